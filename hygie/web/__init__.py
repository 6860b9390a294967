"""Server-rendered web UI (docs/web.md)."""
