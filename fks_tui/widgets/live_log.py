"""The live build log: the selected service's lines, or every service interleaved with a prefix."""

from __future__ import annotations

from collections import deque

from textual.widgets import Log

# Lines reach the widget at most this often (seconds), and at most this many per flush: faster than
# that nobody reads them, and writing them all would cost the keyboard its responsiveness.
FLUSH_INTERVAL = 0.05
MAX_LINES_PER_FLUSH = 1000


class LiveLog(Log):
    """Writes batches with write_lines and keeps a bounded tail per service (the full log is on disk)."""

    def __init__(self, max_lines: int = 5000, tail_lines: int = 2000, **kwargs) -> None:
        super().__init__(max_lines=max_lines, auto_scroll=True, **kwargs)
        self.tail_lines = tail_lines
        self.tails: dict[str, deque[str]] = {}
        self.all_services = False
        self.service: str | None = None
        self.prefix_width = 10
        self.lines_seen = 0
        self._pending: list[str] = []
        self._flush_scheduled = False

    def _title(self) -> None:
        if self.all_services:
            self.border_title = "Log: all services"
        else:
            self.border_title = f"Log: {self.service}" if self.service else "Log"

    def on_mount(self) -> None:
        self._title()

    def _tail(self, service: str) -> deque[str]:
        tail = self.tails.get(service)
        if tail is None:
            tail = self.tails[service] = deque(maxlen=self.tail_lines)
            self.prefix_width = max(self.prefix_width, len(service) + 1)
        return tail

    def add(self, service: str, lines: list[str]) -> None:
        self._tail(service).extend(lines)
        self.lines_seen += len(lines)
        if self.all_services:
            self._pending.extend(self._prefixed(service, lines))
        elif service == self.service:
            self._pending.extend(lines)
        else:
            return
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.set_timer(FLUSH_INTERVAL, self._flush)

    def _flush(self) -> None:
        """Write what arrived since the last flush in one call; beyond what anyone can read, skip."""
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        if len(pending) > MAX_LINES_PER_FLUSH:
            skipped = len(pending) - MAX_LINES_PER_FLUSH
            pending = [
                f"… {skipped:,} lines not shown here (the full log is on disk)",
                *pending[-MAX_LINES_PER_FLUSH:],
            ]
        if pending:
            self.write_lines(pending)

    def _prefixed(self, service: str, lines: list[str]) -> list[str]:
        prefix = f"{service:<{self.prefix_width}}│ "
        return [prefix + line for line in lines]

    def show(self, service: str | None) -> None:
        """Follow another service (its recent tail is shown at once)."""
        if service == self.service and not self.all_services:
            return
        self.service = service
        if not self.all_services:
            self._rewrite()

    def set_all(self, all_services: bool) -> None:
        if all_services != self.all_services:
            self.all_services = all_services
            self._rewrite()

    def reset(self) -> None:
        """A new run starts: forget the previous run's tails."""
        self.tails.clear()
        self._pending = []
        self.clear()

    def _rewrite(self) -> None:
        self._title()
        self._pending = []
        self.clear()
        if self.all_services:
            # The per-service tails lose the interleaving order; show them grouped, newest run output last.
            for service, tail in self.tails.items():
                self.write_lines(
                    self._prefixed(service, list(tail)[-self.max_lines // max(1, len(self.tails)) :])
                )
        elif self.service in self.tails:
            self.write_lines(list(self.tails[self.service]))
