"""What the disk area shows until the disk widget is mounted there."""

from __future__ import annotations

from textual.widgets import Static


class DiskPlaceholder(Static):
    DEFAULT_CSS = """
    DiskPlaceholder { color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__("disk: not monitored", id="disk-placeholder")
