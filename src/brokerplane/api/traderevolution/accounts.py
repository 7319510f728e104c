"""Accounts beyond seed 004: the paged list, account details, assets (currencies), account
changes, deletion and closing, and transfers between a user's accounts."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
