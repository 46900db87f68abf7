"""The failure log: per failed service the failing step, the error and the end of that step's output."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group
from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

TAIL_LINES = 30


@dataclass
class Failure:
    service: str
    step: str
    error: str
    tail: tuple[str, ...]
    log_path: str = ""


class FailureCard(Static, can_focus=True):
    """One failure; Enter asks the app to open the full log."""

    BINDINGS = [Binding("enter", "open_log", "Full log", show=True)]

    @dataclass
    class OpenLog(Message):
        service: str
        log_path: str

    def __init__(self, failure: Failure, root: str = "") -> None:
        super().__init__(self._render_failure(failure, root), classes="failure-card")
        self.failure = failure

    @staticmethod
    def _render_failure(failure: Failure, root: str) -> Group:
        path = failure.log_path
        if root and path.startswith(root.rstrip("/") + "/"):
            path = path[len(root.rstrip("/")) + 1 :]
        head = Text.assemble(
            ("✘ ", "bold red"),
            (failure.service, "bold"),
            ("  failed at ", "grey62"),
            (failure.step or "(before any step)", "yellow"),
        )
        parts = [head, Text(failure.error, style="red")]
        if failure.tail:
            parts.append(Text("\n".join(failure.tail[-TAIL_LINES:]), style="grey78"))
        if path:
            parts.append(
                Text.assemble(("full log: ", "grey62"), (path, "underline"), ("  (Enter opens it)", "grey50"))
            )
        return Group(*parts)

    def action_open_log(self) -> None:
        self.post_message(self.OpenLog(self.failure.service, self.failure.log_path))


class FailurePane(VerticalScroll):
    """All failures of the current run, newest last."""

    def __init__(self, root: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.root = root
        self.failures: list[Failure] = []
        self.empty = Static("No failures.", classes="empty")

    def compose(self):
        yield self.empty

    def add(self, failure: Failure) -> None:
        self.failures = [f for f in self.failures if f.service != failure.service] + [failure]
        for card in self.query(FailureCard):
            if card.failure.service == failure.service:
                card.remove()
        self.empty.display = False
        self.mount(FailureCard(failure, self.root))

    def reset(self) -> None:
        self.failures = []
        self.query(FailureCard).remove()
        self.empty.display = True

    def focus_first(self) -> None:
        cards = list(self.query(FailureCard))
        if cards:
            cards[0].focus()
        else:
            self.focus()
