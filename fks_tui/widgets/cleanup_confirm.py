"""The confirmation before a manual disk cleanup: what each step would remove; answers True or False."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from ..disk import CleanupPreview


class CleanupConfirm(ModalScreen[bool]):
    """Shows Cleaner.preview() and asks before running every cleanup step."""

    DEFAULT_CSS = """
    CleanupConfirm { align: center middle; }
    CleanupConfirm #cleanup-box {
        width: 90%; max-width: 110; height: auto; max-height: 90%;
        border: thick $error 60%; background: $surface; padding: 1 2;
    }
    CleanupConfirm #cleanup-preview { height: auto; max-height: 20; }
    CleanupConfirm #cleanup-buttons { height: auto; margin-top: 1; align-horizontal: right; }
    CleanupConfirm Button { margin-left: 2; }
    """
    BINDINGS = [Binding("y", "answer(True)", "Clean up"), Binding("n,escape", "answer(False)", "Cancel")]

    def __init__(self, preview: CleanupPreview | str) -> None:
        super().__init__()
        self.preview = preview

    def compose(self) -> ComposeResult:
        text = self.preview if isinstance(self.preview, str) else self.preview.text()
        with Vertical(id="cleanup-box"):
            yield Label("Run disk cleanup now? Every step runs; this removes:", id="cleanup-question")
            with VerticalScroll(id="cleanup-preview"):
                yield Static(text, id="cleanup-text", markup=False)
            with Horizontal(id="cleanup-buttons"):
                yield Button("Clean up (y)", variant="error", id="yes")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # the safe answer is the default

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
