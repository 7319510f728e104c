"""The native REST API: seed 000's MT4-style manager API at /v1 and /mt4/manager."""
