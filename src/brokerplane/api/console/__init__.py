"""The back-office console served at /console (server-rendered pages over the core)."""
