"""mkdocs hooks: the reference pages and openapi.json are generated from the code at build time
(tools/docs/reference.py), so the site cannot describe settings, commands, errors, scopes or
routes that are not there."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference
from mkdocs.structure.files import File, Files


def on_files(files: Files, config: Any) -> Files:
    for uri, make in reference.PAGES.items():
        existing = files.get_file_from_path(uri)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, uri, content=make()))
    files.append(File.generated(config, "reference/openapi.json", content=reference.openapi_json()))
    return files
