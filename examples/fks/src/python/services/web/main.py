"""fks-web entry point: serves the dashboard pages."""

from __future__ import annotations

from shared.config import load_settings
from shared.logs import setup_logging

settings = load_settings()
log = setup_logging("web")


def main() -> None:
    log.info("web dashboard on :%d", settings.port)


if __name__ == "__main__":
    main()
