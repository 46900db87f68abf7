"""The full build log of one service, read from disk."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Log

MAX_VIEW_LINES = 200_000


class LogViewerScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "dismiss", "Close log")]

    def __init__(self, service: str, log_path: str) -> None:
        super().__init__()
        self.service = service
        self.log_path = log_path

    def compose(self) -> ComposeResult:
        log = Log(max_lines=MAX_VIEW_LINES, id="full-log")
        log.border_title = f"{self.service}: {self.log_path}"
        log.border_subtitle = "Esc closes"
        yield log

    def on_mount(self) -> None:
        log = self.query_one(Log)
        try:
            text = Path(self.log_path).read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            log.write_line(f"cannot read {self.log_path}: {error.strerror or error}")
            return
        log.write_lines(text.splitlines()[-MAX_VIEW_LINES:])
        log.focus()
