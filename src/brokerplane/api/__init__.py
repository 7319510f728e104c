"""The HTTP surface: one ASGI app on which every enabled dialect is mounted."""
