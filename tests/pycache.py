"""Compiled bytecode for the processes the tests start, kept outside the tree.

With PYTHONDONTWRITEBYTECODE set (as in many shells and CI images), every process the suite
starts (each `brokerplane` CLI run, server and docs page, and the xdist workers) compiles every
module it imports from source again: about 0.2 s of CPU for a CLI command, more for a server,
and the suite starts hundreds of them. Imported with the tests package, before xdist starts its
workers, `keep_bytecode()` lets those processes write their bytecode under one directory of the
user's cache (PYTHONPYCACHEPREFIX) instead, so nothing is written into the source tree (which is
what PYTHONDONTWRITEBYTECODE is usually set for) and each module is compiled once per change.

A PYTHONPYCACHEPREFIX already set is kept as it is; BROKERPLANE_TEST_NO_BYTECODE=1 keeps the
environment untouched.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "brokerplane" / "pycache"


def keep_bytecode() -> None:
    if os.environ.get("BROKERPLANE_TEST_NO_BYTECODE") == "1":
        return
    if os.environ.get("PYTHONPYCACHEPREFIX") or not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return  # bytecode is written already (into __pycache__ or where the user said)
    where = cache_dir()
    try:
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = where.stat()
    except OSError:
        return
    # Only a directory of our own that nobody else can write: its files are code we run.
    if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o022:
        return
    os.environ["PYTHONPYCACHEPREFIX"] = str(where)
    del os.environ["PYTHONDONTWRITEBYTECODE"]
