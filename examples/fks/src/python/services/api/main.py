"""fks-api entry point: REST endpoints in front of the other services."""

from __future__ import annotations

from shared.config import load_settings
from shared.logs import setup_logging

settings = load_settings()
log = setup_logging("api")


def health() -> dict[str, str]:
    return {"status": "ok", "service": settings.service_type}


def main() -> None:
    log.info("api listening on :%d", settings.port)


if __name__ == "__main__":
    main()
