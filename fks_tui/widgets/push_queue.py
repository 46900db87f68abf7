"""The push queue: images waiting, pushing (per-layer bytes), pushed (digest) or failed (reason)."""

from __future__ import annotations

from dataclasses import dataclass, field

import humanize
from rich.text import Text
from textual.widgets import DataTable

PUSH_LOOK = {
    "waiting": ("◌", "grey70"),
    "pushing": ("⇡", "bold yellow"),
    "pushed": ("✔", "green"),
    "failed": ("✘", "bold red"),
}


@dataclass
class PushRow:
    service: str
    tags: tuple[str, ...] = ()
    status: str = "waiting"
    layers: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # layer -> (status, current, total)
    digest: str = ""
    error: str = ""
    attempts: int = 0
    retry: str = ""

    @property
    def bytes_done(self) -> int:
        return sum(
            total if status.startswith(("Pushed", "Layer already")) else min(current, total or current)
            for status, current, total in self.layers.values()
        )

    @property
    def bytes_total(self) -> int:
        return sum(total for _, _, total in self.layers.values())

    @property
    def layers_done(self) -> int:
        return sum(
            status.startswith(("Pushed", "Layer already", "Mounted")) for status, _, _ in self.layers.values()
        )


class PushQueue(DataTable):
    """A row per image; the app owns the PushRow objects and calls refresh_rows()."""

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.rows_by_service: dict[str, PushRow] = {}
        self._order: list[str] = []
        self._shown: dict[str, dict[str, Text | str]] = {}

    def on_mount(self) -> None:
        self.add_column("Status", key="status", width=10)
        self.add_column("Image", key="image", width=14)
        self.add_column("Layers", key="layers", width=6)
        self.add_column("Bytes", key="bytes", width=22)
        self.add_column("Tries", key="tries", width=5)
        self.add_column("Digest / reason", key="detail")

    def reset(self) -> None:
        self.rows_by_service.clear()
        self.refresh_rows()

    def row(self, service: str) -> PushRow:
        if service not in self.rows_by_service:
            self.rows_by_service[service] = PushRow(service)
        return self.rows_by_service[service]

    def cells(self, row: PushRow) -> dict[str, Text | str]:
        glyph, style = PUSH_LOOK.get(row.status, ("?", ""))
        if row.bytes_total:
            size = (
                f"{humanize.naturalsize(row.bytes_done, binary=True)} / "
                f"{humanize.naturalsize(row.bytes_total, binary=True)}"
            )
        else:
            size = ""
        if row.status == "pushed":
            detail = Text(row.digest.removeprefix("sha256:")[:19], style="green")
        elif row.status == "failed":
            detail = Text(row.error, style="red")
        else:
            detail = Text(row.retry, style="yellow")
        layers = f"{row.layers_done}/{len(row.layers)}" if row.layers else ""
        return {
            "status": Text.assemble((glyph, style), " ", (row.status, style)),
            "image": row.service,
            "layers": layers,
            "bytes": size,
            "tries": str(row.attempts) if row.attempts else "",
            "detail": detail,
        }

    def refresh_rows(self) -> None:
        if not self.columns:
            return
        rank = {"pushing": 0, "waiting": 1, "failed": 2, "pushed": 3}
        rows = sorted(self.rows_by_service.values(), key=lambda r: rank.get(r.status, 9))
        order = [r.service for r in rows]
        keys = list(self.columns)
        if order != self._order:
            self.clear()
            self._shown = {}
            for row in rows:
                cells = self.cells(row)
                self._shown[row.service] = dict(cells)
                self.add_row(*(cells[k.value] for k in keys), key=row.service)
            self._order = order
            return
        for row in rows:
            cells = self.cells(row)
            shown = self._shown.setdefault(row.service, {})
            for key in keys:
                if shown.get(key.value) != cells[key.value]:
                    shown[key.value] = cells[key.value]
                    self.update_cell(row.service, key, cells[key.value])
