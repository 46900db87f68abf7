"""fks-training entry point: trains forecasting models on a GPU."""

from __future__ import annotations

from shared.config import load_settings
from shared.logs import setup_logging

settings = load_settings()
log = setup_logging("training")

EPOCHS = 10


def main() -> None:
    for epoch in range(1, EPOCHS + 1):
        log.info("epoch %d/%d", epoch, EPOCHS)


if __name__ == "__main__":
    main()
