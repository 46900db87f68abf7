"""fks-api: HTTP gateway for the dashboard and strategies."""
