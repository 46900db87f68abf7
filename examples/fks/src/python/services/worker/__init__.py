"""fks-worker: background jobs (signal evaluation, reports)."""
