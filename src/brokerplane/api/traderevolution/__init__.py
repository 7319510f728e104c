"""The TraderEvolution Back-Office dialect: `/proftrading/rest/...` (seed 004)."""
