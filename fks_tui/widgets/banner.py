"""A banner for what stops builds from running (broken config, unreachable daemon) and how to fix it."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class Banner(Static):
    """Hidden unless there is a problem; one entry per source (config, docker)."""

    DEFAULT_CSS = """
    Banner { display: none; height: auto; background: $error 30%; color: $text; padding: 0 1;
             border-left: thick $error; }
    Banner.-shown { display: block; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.problems: dict[str, tuple[str, str]] = {}

    def set_problem(self, source: str, problem: str | None, fix: str = "") -> None:
        if problem:
            self.problems[source] = (problem, fix)
        else:
            self.problems.pop(source, None)
        text = Text()
        for i, (message, hint) in enumerate(self.problems.values()):
            if i:
                text.append("\n")
            text.append("✘ ", style="bold red")
            text.append(message, style="bold")
            if hint:
                text.append(f"\n  fix: {hint}", style="italic")
        self.update(text)
        self.set_class(bool(self.problems), "-shown")
