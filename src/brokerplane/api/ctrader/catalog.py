"""Symbols, deposit assets, open and closed positions and sub-accounts."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
