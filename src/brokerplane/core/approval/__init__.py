"""Approvals: a second manager signs off high-value money operations."""
