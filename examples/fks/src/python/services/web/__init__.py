"""fks-web: server-rendered dashboard."""
