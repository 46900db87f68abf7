"""Parsing of human sizes ("20GiB", "512MB", "10%") used by disk thresholds."""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_PERCENT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def parse_size(text: str | int) -> int:
    """Bytes for "20GiB", "1.5 GB", "300M" or a plain integer; ValueError otherwise."""
    if isinstance(text, bool):
        raise ValueError(f"not a size: {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"negative size: {text}")
        return text
    match = _SIZE_RE.match(str(text))
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f'not a size: {text!r} (expected e.g. "20GiB", "500MB")')
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


@dataclass(frozen=True, slots=True)
class Threshold:
    """A free-space threshold: an absolute byte count or a percentage of the filesystem."""

    raw: str
    bytes: int | None = None
    percent: float | None = None

    def resolve(self, total_bytes: int) -> int:
        """Bytes this threshold means on a filesystem of total_bytes."""
        if self.percent is not None:
            return int(total_bytes * self.percent / 100)
        return self.bytes or 0


def parse_threshold(text: str | int) -> Threshold:
    """A Threshold from "20GiB" or "10%"; ValueError when it is neither."""
    raw = str(text)
    match = _PERCENT_RE.match(raw)
    if match:
        percent = float(match.group(1))
        if percent > 100:
            raise ValueError(f"percentage above 100: {raw!r}")
        return Threshold(raw=raw, percent=percent)
    try:
        return Threshold(raw=raw, bytes=parse_size(text))
    except ValueError:
        raise ValueError(f'not a size or percentage: {raw!r} (expected e.g. "20GiB" or "10%")') from None
