"""How parameter names are matched where spellings vary: MT5 reads `pass_main`, `pass-main`,
`PassMain` and `P_A-S-S_main` as one name, and the log redactor must read them the same way,
or a spelling the server accepts would be logged in clear."""

from __future__ import annotations


def norm(name: str) -> str:
    """The form a parameter name is matched in: lower case, without `_` and `-`."""
    return name.lower().replace("_", "").replace("-", "")
