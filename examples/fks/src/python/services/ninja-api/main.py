"""fks-ninja-api entry point: forwards orders to a NinjaTrader instance."""

from __future__ import annotations

from shared.config import load_settings
from shared.logs import setup_logging

settings = load_settings()
log = setup_logging("ninja-api")


def submit_order(symbol: str, qty: int, side: str) -> dict[str, object]:
    log.info("order %s %d %s", side, qty, symbol)
    return {"symbol": symbol, "qty": qty, "side": side, "status": "accepted"}


def main() -> None:
    log.info("ninja bridge on :%d", settings.port)


if __name__ == "__main__":
    main()
