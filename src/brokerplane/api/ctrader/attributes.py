"""Attributes of traders, trader groups and managers (cTrader Web Services 4.14-4.22)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
