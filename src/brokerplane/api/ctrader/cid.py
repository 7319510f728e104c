"""cTID users under /cid (and /v2/cid): create, link, white-label moves, email."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
