"""The key help: every binding of the dashboard with its description."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close help")]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        self.key_bindings = bindings

    def compose(self) -> ComposeResult:
        table = Table(show_header=False, box=None, padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for binding in self.key_bindings:
            keys = binding.key_display or "/".join(_key_name(k) for k in binding.key.split(","))
            table.add_row(keys, binding.tooltip or binding.description)
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Keys"
            box.border_subtitle = "Esc closes"
            yield Static(table)


def _key_name(key: str) -> str:
    return {
        "question_mark": "?",
        "slash": "/",
        "enter": "Enter",
        "escape": "Esc",
        "down": "↓",
        "up": "↑",
    }.get(key, key)
