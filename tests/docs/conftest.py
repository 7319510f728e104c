"""The docs' tooling lives in tools/docs (run by mkdocs and by hand); the tests import it."""

from __future__ import annotations

import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[2] / "tools" / "docs"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))
