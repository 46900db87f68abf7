"""fks-data entry point: ingests bars and ticks and stores them."""

from __future__ import annotations

from shared.config import load_settings
from shared.logs import setup_logging

settings = load_settings()
log = setup_logging("data")

SYMBOLS = ("ES", "NQ", "GC", "CL")


def main() -> None:
    for symbol in SYMBOLS:
        log.info("subscribing to %s", symbol)


if __name__ == "__main__":
    main()
