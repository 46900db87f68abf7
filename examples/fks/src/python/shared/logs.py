"""One log format for every service."""

from __future__ import annotations

import logging


def setup_logging(service: str, level: int = logging.INFO) -> logging.Logger:
    logging.basicConfig(level=level, format=f"%(asctime)s {service} %(levelname)s %(message)s")
    return logging.getLogger(service)
