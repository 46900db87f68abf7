"""Route table of fks-api."""

ROUTES = {
    "/health": "health",
    "/api/v1/positions": "positions",
    "/api/v1/signals": "signals",
}
