"""Service configuration read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    service_type: str
    port: int
    redis_url: str


def load_settings() -> Settings:
    return Settings(
        service_type=os.environ.get("SERVICE_TYPE", "unknown"),
        port=int(os.environ.get("SERVICE_PORT", "8000")),
        redis_url=os.environ.get("REDIS_URL", "redis://redis:6379/0"),
    )
