"""fks-worker entry point: pulls jobs from Redis and runs them."""

from __future__ import annotations

import time

from shared.config import load_settings
from shared.logs import setup_logging

settings = load_settings()
log = setup_logging("worker")


def run_once(job: str) -> None:
    log.info("running job %s", job)


def main() -> None:
    log.info("worker started, queue at %s", settings.redis_url)
    while True:
        time.sleep(5)


if __name__ == "__main__":
    main()
