"""One kind's build queue as a table: a row per service, running rows first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import DataTable

from ..history import SLOW_FACTOR

# status -> (glyph, style); "cached" is a build whose every step came from the cache.
STATUS_LOOK: dict[str, tuple[str, str]] = {
    "idle": ("·", "grey50"),
    "due": ("●", "bold orange1"),  # the file watcher saw a save; builds on b (or at once with auto-build)
    "queued": ("◌", "grey70"),
    "building": ("▶", "bold yellow"),
    "cached": ("≡", "cyan"),
    "built": ("✔", "green"),
    "failed": ("✘", "bold red"),
    "cancelled": ("⊘", "magenta"),
    "skipped": ("–", "grey50"),
}
# Running rows first, like a build queue; then what is waiting, then what is over.
STATUS_ORDER = {
    "building": 0,
    "queued": 1,
    "due": 2,
    "failed": 3,
    "cancelled": 4,
    "built": 5,
    "cached": 5,
    "idle": 6,
    "skipped": 7,
}


def format_elapsed(seconds: float) -> str:
    """Compact, for a table cell: 4.2s, 3m07s, 1h02m."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def format_eta(seconds: float) -> str:
    return f"~{seconds:.0f}s left" if seconds < 60 else f"~{seconds / 60:.0f}m left"


def progress_bar(done: int, total: int, width: int, style: str) -> Text:
    filled = round(width * done / total) if total else 0
    return Text.assemble(("━" * filled, style), ("─" * (width - filled), "grey30"))


@dataclass
class ServiceRow:
    """What the table shows about one service; `trigger` is the watcher's, `median`/`spark` the history's."""

    name: str
    kind: str
    status: str = "idle"
    reason: str = ""
    forced: bool = False
    trigger: str = ""  # what made it due (e.g. the file that changed), shown after the reason
    step: str = ""
    steps_done: int = 0
    steps_total: int = 0
    cached_steps: int = 0
    started: float = 0.0
    duration: float = 0.0
    median: float | None = None  # usual duration from history, for an ETA
    spark: str = ""  # sparkline of the last successful builds' durations, oldest first
    note: str = ""  # e.g. "slower than usual", set when the build ends
    log_path: str = ""

    def elapsed(self, now: float) -> float | None:
        if self.status == "building" and self.started:
            return max(0.0, now - self.started)
        if self.status in ("built", "cached", "failed", "cancelled") and self.duration:
            return self.duration
        return None

    def eta(self, now: float) -> float | None:
        """Seconds the running build probably still needs (History.eta on the median cached at load)."""
        elapsed = self.elapsed(now) if self.status == "building" else None
        if elapsed is None or self.median is None:
            return None
        return max(0.0, self.median - elapsed)

    def is_slow(self, elapsed: float) -> bool:
        """History.is_slow against the median from before this run (the run's own build must not count)."""
        return self.median is not None and elapsed > SLOW_FACTOR * self.median

    def reset_for_run(self) -> None:
        self.step, self.steps_done, self.steps_total, self.cached_steps = "", 0, 0, 0
        self.started, self.duration, self.note, self.log_path = 0.0, 0.0, "", ""


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int | None
    compact: bool  # shown in a narrow terminal too


TREND_MIN_WIDTH = 140
COLUMNS = (
    Column("status", "Status", 11, True),
    Column("name", "Service", 12, True),
    Column("reason", "Reason", None, False),
    Column("step", "Current step", None, False),
    Column("steps", "Steps", 5, True),
    Column("progress", "Progress", 10, True),
    Column("elapsed", "Elapsed", 13, True),
    Column("cached", "Cached", 6, True),
    Column("trend", "History", 10, False),
)


class ServiceTable(DataTable):
    """Services of one kind. The app owns the ServiceRow objects and calls refresh_rows() after changes."""

    DEFAULT_CSS = """
    ServiceTable { height: auto; max-height: 12; }
    """

    def __init__(self, kind: str, clock: Callable[[], float], **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.kind = kind
        self.clock = clock
        self.rows_by_name: dict[str, ServiceRow] = {}
        self.filter_text = ""
        self.compact = False
        self._order: list[str] = []
        self._shown: dict[str, dict[str, Text | str]] = {}
        self._step_width = 30
        self._reason_width = 12
        self._table_width = 0

    def on_mount(self) -> None:
        self._build_columns()

    def _columns(self) -> list[Column]:
        # The history sparkline only where it leaves the Reason column room to say why.
        return [
            c
            for c in COLUMNS
            if (c.compact or not self.compact) and (c.key != "trend" or self._table_width >= TREND_MIN_WIDTH)
        ]

    def _build_columns(self) -> None:
        self.clear(columns=True)
        self._order = []
        for column in self._columns():
            flexible = {"reason": self._reason_width, "step": self._step_width}
            self.add_column(column.label, key=column.key, width=column.width or flexible[column.key])

    def set_compact(self, compact: bool, width: int) -> None:
        before = (self.compact, self._table_width, self._step_width, self._reason_width)
        self.compact, self._table_width = compact, width
        # Reason ("changed: src/...", "no changes since 1a2b3c4") first, then the current step.
        fixed = sum((c.width or 0) + 2 for c in self._columns() if c.width) + 4
        free = max(0, width - fixed - 6)
        self._reason_width = max(12, min(40, free - 16))
        self._step_width = max(16, min(60, free - self._reason_width))
        after = (self.compact, self._table_width, self._step_width, self._reason_width)
        if after == before and self.columns:
            return
        self._build_columns()
        self.refresh_rows()

    def set_rows(self, rows: list[ServiceRow]) -> None:
        self.rows_by_name = {r.name: r for r in rows if r.kind == self.kind}
        self.refresh_rows()

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip().lower()
        self.refresh_rows()

    @property
    def selected_name(self) -> str | None:
        if not self._order or not (0 <= self.cursor_row < len(self._order)):
            return None
        return self._order[self.cursor_row]

    def select(self, name: str) -> None:
        if name in self._order:
            self.move_cursor(row=self._order.index(name))

    def visible_rows(self) -> list[ServiceRow]:
        names = list(self.rows_by_name)
        rows = [r for r in self.rows_by_name.values() if self.filter_text in r.name.lower()]
        return sorted(rows, key=lambda r: (STATUS_ORDER.get(r.status, 9), names.index(r.name)))

    def cells(self, row: ServiceRow) -> dict[str, Text | str]:
        glyph, style = STATUS_LOOK.get(row.status, ("?", ""))
        name = Text(row.name, style="bold" if row.status == "building" else "")
        if row.forced:
            name.append(" ⚑", style="bold orange1")
        steps = f"{row.steps_done}/{row.steps_total}" if row.steps_total else ""
        now = self.clock()
        elapsed = row.elapsed(now)
        elapsed_text = Text(format_elapsed(elapsed) if elapsed is not None else "")
        eta = row.eta(now)
        if row.note or (row.status == "building" and elapsed is not None and row.is_slow(elapsed)):
            elapsed_text.append(" ⚠ slow", style="bold yellow")
        elif eta is not None and eta >= 0.5:
            elapsed_text.append(f" {format_eta(eta)}", style="grey62")
        done = row.steps_total if row.status in ("built", "cached") else row.steps_done
        if row.status in ("building", "failed"):
            step = Text(row.step, style="red" if row.status == "failed" else "")
        elif row.trigger:
            step = Text(row.trigger, style="orange1")  # the saved file that made it due
        elif row.note:
            step = Text(row.note, style="yellow")
        elif row.status == "skipped" and len(row.reason) > self._reason_width:
            step = Text(row.reason, style="grey62")  # the whole reason: the Reason column cuts it
        else:
            step = Text("")
        step.no_wrap, step.overflow = True, "ellipsis"
        return {
            "status": Text.assemble((glyph, style), " ", (row.status, style)),
            "name": name,
            "reason": Text(row.reason, style="grey62", no_wrap=True, overflow="ellipsis"),
            "step": step,
            "steps": steps,
            "progress": progress_bar(done, row.steps_total, 10, style) if row.steps_total else Text(""),
            "elapsed": elapsed_text,
            "cached": str(row.cached_steps) if row.steps_total else "",
            "trend": Text(row.spark, style="cyan"),
        }

    def refresh_rows(self) -> None:
        """Redraw: re-add the rows when their order changed, else update the cells in place."""
        if not self.columns:
            return
        rows = self.visible_rows()
        order = [r.name for r in rows]
        keys = [c.key for c in self._columns()]
        if order != self._order and sorted(order) == sorted(self._order):
            # Same rows in a new order: update and sort in place, which needs no relayout of the screen.
            self._update_cells(rows, keys)
            rank = {name: i for i, name in enumerate(order)}
            selected = self.selected_name
            self.sort("name", key=lambda cell: rank[str(cell).split()[0]])
            self._order = order
            if selected in order:
                self.move_cursor(row=order.index(selected), animate=False)
            return
        if order != self._order:
            selected = self.selected_name
            self.clear()
            self._shown = {}
            for row in rows:
                cells = self.cells(row)
                self._shown[row.name] = dict(cells)
                self.add_row(*(cells[k] for k in keys), key=row.name)
            self._order = order
            if selected in order:
                self.move_cursor(row=order.index(selected), animate=False)
            return
        self._update_cells(rows, keys)

    def _update_cells(self, rows: list[ServiceRow], keys: list[str]) -> None:
        for row in rows:
            cells = self.cells(row)
            shown = self._shown.setdefault(row.name, {})
            for key in keys:
                # Only changed cells: each update invalidates the row's render cache.
                if shown.get(key) != cells[key]:
                    shown[key] = cells[key]
                    self.update_cell(row.name, key, cells[key])
