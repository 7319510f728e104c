"""An account's ApiData cells (MT5, seed 002): their limits and the one shape they are stored in."""

from __future__ import annotations

import math
from typing import Any

from brokerplane.core.errors import ValidationError

# ApiData (seed 002): at most 16 cells; each names AppID and ID and holds one value whose type is
# the LAST of ValueInt, ValueUInt, ValueDouble present, looked for in that order.
API_DATA_CELLS = 16
API_APP_ID_MAX = 0xFFFF
API_ID_MAX = 0xFF
_API_INT = (-(2**63), 2**63 - 1)
_API_UINT = (0, 2**64 - 1)
API_VALUE_FIELDS = {"valueint": "ValueInt", "valueuint": "ValueUInt", "valuedouble": "ValueDouble"}


def _cell_int(value: Any, low: int, high: int, what: str) -> int:
    if isinstance(value, bool):
        raise ValidationError.field("api_data", f"{what} must be an integer")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ValidationError.field("api_data", f"{what} must be an integer") from None
    if not isinstance(value, int) or not low <= value <= high:
        raise ValidationError.field("api_data", f"{what} must be an integer from {low} to {high}")
    return value


def _cell_double(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationError.field("api_data", f"{what} must be a number")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        raise ValidationError.field("api_data", f"{what} must be a number") from None
    if not math.isfinite(number):
        raise ValidationError.field("api_data", f"{what} must be a finite number")
    return number


def normalize_api_data(cells: Any) -> list[dict[str, Any]]:
    """ApiData cells as MT5 clients send them (seed 002), in the one shape they are stored in:
    {AppID, ID, <value field>: value}, the value field being the LAST of ValueInt, ValueUInt,
    ValueDouble present (looked for in that order) and the only one kept, so the type survives
    a read and a write back. Keys match whatever their case or `_`; empty cells (AppID and ID
    0, no value or 0) are dropped, so the 16 cells read back and sent again store the same."""
    if not isinstance(cells, list):
        raise ValidationError.field("api_data", "must be a list of cells")
    out: list[dict[str, Any]] = []
    for n, raw in enumerate(cells):
        if not isinstance(raw, dict):
            raise ValidationError.field("api_data", "cells must be objects")
        cell = {str(k).lower().replace("_", ""): v for k, v in raw.items()}
        where = f"cell {n}"
        app_id = _cell_int(cell.get("appid", 0), 0, API_APP_ID_MAX, f"{where}: AppID")
        cell_id = _cell_int(cell.get("id", 0), 0, API_ID_MAX, f"{where}: ID")
        kind = None
        for key in ("valueint", "valueuint", "valuedouble"):
            if cell.get(key) is not None:
                kind = key
        value: int | float = 0
        if kind == "valueint":
            value = _cell_int(cell[kind], *_API_INT, f"{where}: ValueInt")
        elif kind == "valueuint":
            value = _cell_int(cell[kind], *_API_UINT, f"{where}: ValueUInt")
        elif kind == "valuedouble":
            value = _cell_double(cell[kind], f"{where}: ValueDouble")
        if not app_id and not cell_id and not value:
            continue  # an empty slot
        if kind is None:
            raise ValidationError.field(
                "api_data", f"{where}: needs one of ValueInt, ValueUInt, ValueDouble"
            )
        out.append({"AppID": app_id, "ID": cell_id, API_VALUE_FIELDS[kind]: value})
    if len(out) > API_DATA_CELLS:
        raise ValidationError.field("api_data", f"must be a list of at most {API_DATA_CELLS} cells")
    return out
