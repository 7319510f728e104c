"""The production pages keep up with the code: the deployment guide says, for every schema
revision shipped, whether servers of the revision before survive it (a new revision without a
row fails here), and the README's "Running in production" section has one command per role, a
picture of the processes and databases, what each production setting does, and the limits
measured."""

from __future__ import annotations

import re
from pathlib import Path

from brokerplane.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = ROOT / "src" / "brokerplane" / "storage" / "migrations" / "versions"
GUIDE = ROOT / "docs" / "operations" / "deployment.md"
# The settings a production deployment sets (the guide's "Settings that matter" table).
PRODUCTION_SETTINGS = (
    "database_url",
    "read_database_url",
    "read_max_lag_s",
    "read_retry_s",
    "workers",
    "pool_size",
    "audit_key",
    "forwarded_allow_ips",
)


def _revisions() -> list[str]:
    return sorted(p.name[:4] for p in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))


def _rows() -> dict[str, list[str]]:
    """The guide's revision table: revision -> its cells."""
    rows = {}
    for line in GUIDE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and re.fullmatch(r"\d{4}", cells[0]):
            rows[cells[0]] = cells
    return rows


def test_the_deployment_guide_says_whether_running_servers_survive_every_revision() -> None:
    revisions = _revisions()
    rows = _rows()
    assert sorted(rows) == revisions, "add a row for each new revision to deployment.md"
    text = GUIDE.read_text(encoding="utf-8")
    assert f"**The revisions so far** (0001 to {revisions[-1]})" in text
    stops = []
    for revision, cells in rows.items():
        assert len(cells) == 4, cells
        if revision == "0001":
            continue
        survives = cells[3]
        assert survives.startswith(("survive", "**stop**")), cells
        if survives.startswith("**stop**"):
            stops.append(revision)
    across = re.search(r"So upgrading across ([0-9, or]+) means: stop", text.replace("\n", " "))
    assert across is not None
    assert re.findall(r"\d{4}", across.group(1)) == stops


def test_the_deployment_guide_describes_several_processes_itself() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    section = text.split("## Several processes", 1)[1].split("\n## ", 1)[0]
    assert "<!--" not in section  # no placeholder left for later
    assert "--workers N" in section and "(several-processes.md)" in section


def _readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "\n## Running in production\n" in text
    return text.split("\n## Running in production\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_section_has_a_command_per_role_and_a_picture() -> None:
    section = _readme_section()
    picture = section.split("```text", 1)[1].split("```", 1)[0]
    for part in ("nginx", "brokerplane serve", "primary", "standby", "WAL", "MT5"):
        assert part in picture, part
    for command in (
        "brokerplane db upgrade",
        "brokerplane serve",
        "brokerplane backup",
        "brokerplane ledger verify",
    ):
        assert re.search(rf"^{command}\b.*# \w+:", picture, re.MULTILINE), command
    assert "X-Brokerplane-Replica-Lag" in section
    assert "(docs/operations/deployment.md)" in section


def test_the_readme_section_says_what_each_production_setting_does_and_the_limits() -> None:
    section = _readme_section().replace("\n", " ")
    assert "`BROKERPLANE_` + name" in section
    for name in PRODUCTION_SETTINGS:
        assert name in Settings.model_fields, name
        # the name, then a few words of what it does
        assert re.search(rf"`{name.upper()}`( \([^)]*\))? [a-z]+ \w+", section), name
    assert "deposits/s" in section and "--workers 2" in section and " ms" in section
