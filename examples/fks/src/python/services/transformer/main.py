"""fks-transformer entry point: serves transformer-model predictions."""

from __future__ import annotations

from shared.config import load_settings
from shared.logs import setup_logging

settings = load_settings()
log = setup_logging("transformer")

MODEL_NAME = "fks-tft-small"


def main() -> None:
    log.info("loading %s, serving on :%d", MODEL_NAME, settings.port)


if __name__ == "__main__":
    main()
