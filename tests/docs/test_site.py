"""The docs site builds offline with every link and anchor resolved, and its reference pages,
generated from the code, cover every setting, command, core error and scope."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import reference

from brokerplane.core.actor import SCOPES
from brokerplane.core.errors import all_error_classes
from brokerplane.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = Path(sys.executable).with_name("mkdocs")


def test_make_docs_builds_the_site_strictly_with_the_generated_reference(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    site = tmp_path / "site"
    for page in (
        "index",
        "getting-started",
        "dialects/native",
        "reference/cli",
        "reference/configuration",
        "reference/errors",
        "reference/scopes",
        "reference/openapi",
        "benchmarks",
    ):
        assert (site / f"{page}.html").is_file(), page
    spec = json.loads((site / "reference" / "openapi.json").read_text())
    assert "/v1/balances/deposit" in spec["paths"]
    html = (site / "reference" / "openapi.html").read_text()
    assert "/v1/balances/deposit" in html
    # offline: no page loads a script or a stylesheet from another host
    for html_page in site.rglob("*.html"):
        text = html_page.read_text()
        assert not re.search(r'<(?:script|link)[^>]+(?:src|href)="https?://', text), html_page


def test_the_configuration_reference_names_every_setting() -> None:
    page = reference.configuration_page()
    for name in Settings.model_fields:
        assert f"`BROKERPLANE_{name.upper()}`" in page, name


def test_the_command_line_reference_holds_the_help_of_every_command() -> None:
    page = reference.cli_page()
    paths = [path for path, _ in reference.commands()]
    assert ["key", "create"] in paths and ["approvals", "thresholds", "set"] in paths
    for path, cmd in reference.commands():
        assert f"## `{' '.join(['brokerplane', *path])}`" in page
        for param in cmd.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.opts[0] in page, (path, param.opts[0])


def test_the_error_reference_has_every_core_error_in_every_dialect() -> None:
    rows = {r["error"]: r for r in reference.error_rows()}
    assert set(rows) == {cls.__name__ for cls in all_error_classes()}
    for name, row in rows.items():
        assert all(row[d] for d in ("native", "mt5", "ctrader", "traderevolution")), name
    page = reference.errors_page()
    assert "| `InsufficientFunds` | `ledger.insufficient_funds` | 400 ValidationError |" in page


def test_the_scope_reference_lists_every_scope() -> None:
    page = reference.scopes_page()
    for scope in SCOPES:
        assert f"| `{scope}` |" in page
    assert "trades:write" in page and "quotes:write" in page


def test_every_setting_and_command_the_pages_name_exists() -> None:
    """A variable or command renamed in the code cannot linger in the prose or the examples."""
    settings = {f"BROKERPLANE_{n.upper()}" for n in Settings.model_fields}
    outside = {
        "BROKERPLANE_TEST_DATABASE_URL",
        "BROKERPLANE_REQUIRE_POSTGRES",
        "BROKERPLANE_SOAK",
        "BROKERPLANE_ALL_ENGINES",  # the tests: every database test on both engines
        "BROKERPLANE_REQUIRE_BROWSER",  # the console's browser tests fail instead of skipping
        "BROKERPLANE_SCREENSHOTS",  # the console's browser tests retake docs/screenshots/
        "BROKERPLANE_TEST_TMPDIR",  # where the tests' temporary files go (else /dev/shm)
        "BROKERPLANE_ADMIN_DATABASE_URL",  # brokerplane db create's administrator URL
        "BROKERPLANE_CLIENT_TEST_SERVER",  # the client's tests against a running server
        "BROKERPLANE_CLIENT_TEST_ADMIN_KEY",
        "BROKERPLANE_CLIENT_TEST_APPROVER_KEY",
    }
    groups: dict[str, set[str]] = {}
    for path, cmd in reference.commands():
        if len(path) == 1:
            groups[path[0]] = set(getattr(cmd, "commands", {}))
    invocation = re.compile(
        r"(?:^|[`$(|;]\s*)(?:\.venv/bin/)?brokerplane ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?"
    )
    unknown = []
    checked = 0
    for page in sorted((ROOT / "docs").rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        for var in set(re.findall(r"\bBROKERPLANE_[A-Z0-9_]*[A-Z0-9]\b", text)):
            if var not in settings | outside:
                unknown.append(f"{page.name}: {var}")
        fenced = False
        for line in text.splitlines():
            if line.lstrip().startswith("```"):
                fenced = not fenced
                continue
            # prose names commands in `code spans`; a code block line is code throughout
            spans = [line] if fenced else re.findall(r"`([^`]+)`", line)
            for first, second in (found for span in spans for found in invocation.findall(span)):
                checked += 1
                if first not in groups:
                    unknown.append(f"{page.name}: brokerplane {first}")
                elif groups[first] and second and second not in groups[first]:
                    unknown.append(f"{page.name}: brokerplane {first} {second}")
    assert unknown == []
    assert checked > 30  # the pattern finds the commands the pages run


def test_the_readme_is_short_runs_make_test_and_links_to_files_that_exist() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150
    assert "make serve" in text and "\nmake test " in text  # .ci/run runs `make test`
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert len(local) >= 10
    assert [link for link in local if not (ROOT / link).exists()] == []
