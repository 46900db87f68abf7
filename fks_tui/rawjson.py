"""Incremental parsing of `docker buildx build --progress=rawjson` output into build steps and log lines."""

from __future__ import annotations

import base64
import binascii
import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

# Objects longer than this many lines are not buildx status objects; flush them as text.
_MAX_OBJECT_LINES = 100_000
TAIL_LINES = 30


class RawJsonDecoder:
    """Splits a byte stream into solve-status dicts and plain text lines.

    buildx writes one JSON object per status update, pretty-printed over several lines (older
    releases) or on one line; anything else on the stream (the final "ERROR: ..." summary, the
    Dockerfile excerpt around a failing line) is plain text.
    """

    def __init__(self) -> None:
        self._partial = b""
        self._object_lines: list[str] = []

    def feed(self, chunk: bytes) -> Iterator[dict | str]:
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            yield from self._line(raw.decode("utf-8", errors="replace"))

    def close(self) -> Iterator[dict | str]:
        if self._partial:
            rest, self._partial = self._partial, b""
            yield from self._line(rest.decode("utf-8", errors="replace"))
        if self._object_lines:
            lines, self._object_lines = self._object_lines, []
            yield from lines

    def _line(self, line: str) -> Iterator[dict | str]:
        line = line.rstrip("\r")
        if not self._object_lines:
            if not line.startswith("{"):
                if line.strip():
                    yield line
                return
            if line.endswith("}"):
                parsed = _loads(line)
                if parsed is not None:
                    yield parsed
                    return
            self._object_lines.append(line)
            return
        self._object_lines.append(line)
        # A pretty-printed top-level object closes with a lone "}" at column 0.
        if line == "}":
            parsed = _loads("\n".join(self._object_lines))
            if parsed is not None:
                self._object_lines = []
                yield parsed
                return
        if len(self._object_lines) > _MAX_OBJECT_LINES:
            lines, self._object_lines = self._object_lines, []
            yield from lines


def _loads(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@dataclass(slots=True)
class Vertex:
    """One node of the build graph, as last reported."""

    digest: str
    name: str
    number: int
    started: str | None = None
    completed: str | None = None
    cached: bool = False
    error: str = ""
    reported_started: bool = False
    reported_completed: str | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    partial: str = ""

    @property
    def internal(self) -> bool:
        return self.name.startswith("[internal]")


@dataclass(frozen=True, slots=True)
class StepUpdate:
    """A change of one step's state, for the runner to turn into events."""

    kind: str  # started | finished | cached | failed
    digest: str
    name: str
    error: str = ""
    duration: float = 0.0


class StepTracker:
    """Folds solve-status objects into steps, step updates and log lines (like --progress=plain)."""

    def __init__(self) -> None:
        self.vertices: dict[str, Vertex] = {}
        self.text_tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.current_step = ""

    # -- derived counts (internal vertices are BuildKit's bookkeeping, not the user's steps)
    @property
    def steps_total(self) -> int:
        return sum(1 for v in self.vertices.values() if not v.internal)

    @property
    def steps_done(self) -> int:
        return sum(1 for v in self.vertices.values() if not v.internal and v.completed and not v.error)

    @property
    def cached_steps(self) -> int:
        return sum(1 for v in self.vertices.values() if not v.internal and v.cached)

    def failed_vertex(self) -> Vertex | None:
        failed = [v for v in self.vertices.values() if v.error]
        # The user's step that failed, not an internal wrapper that failed because of it.
        failed.sort(key=lambda v: (v.internal, v.number))
        return failed[0] if failed else None

    def feed(self, item: dict | str, updates: list[StepUpdate], lines: list[str]) -> None:
        """Apply one decoded item; append resulting step updates and log lines."""
        if isinstance(item, str):
            self.text_tail.append(item)
            lines.append(item)
            return
        for raw in item.get("vertexes") or ():
            self._vertex(raw, updates, lines)
        for raw in item.get("logs") or ():
            self._log(raw, lines)
        for raw in item.get("warnings") or ():
            self._warning(raw, lines)

    def flush(self, lines: list[str]) -> None:
        """Emit output lines still waiting for their newline (end of stream)."""
        for vertex in self.vertices.values():
            if vertex.partial:
                self._output_line(vertex, vertex.partial, lines)
                vertex.partial = ""

    def _get(self, raw: dict) -> Vertex:
        digest = raw.get("digest", "")
        vertex = self.vertices.get(digest)
        if vertex is None:
            vertex = Vertex(digest=digest, name=raw.get("name", digest[:19]), number=len(self.vertices) + 1)
            self.vertices[digest] = vertex
        return vertex

    def _vertex(self, raw: dict, updates: list[StepUpdate], lines: list[str]) -> None:
        vertex = self._get(raw)
        if raw.get("name"):
            vertex.name = raw["name"]
        if raw.get("started"):
            vertex.started = raw["started"]
        vertex.completed = raw.get("completed")
        vertex.cached = bool(raw.get("cached")) or vertex.cached
        if raw.get("error"):
            vertex.error = raw["error"]
        tag = f"#{vertex.number}"
        if vertex.started and not vertex.reported_started:
            vertex.reported_started = True
            if not vertex.internal:
                self.current_step = vertex.name
            lines.append(f"{tag} {vertex.name}")
            updates.append(StepUpdate("started", vertex.digest, vertex.name))
        if vertex.completed and vertex.completed != vertex.reported_completed:
            vertex.reported_completed = vertex.completed
            duration = _duration(vertex.started, vertex.completed)
            if vertex.error:
                lines.append(f"{tag} ERROR: {vertex.error}")
                updates.append(StepUpdate("failed", vertex.digest, vertex.name, vertex.error, duration))
            elif vertex.cached:
                lines.append(f"{tag} CACHED")
                updates.append(StepUpdate("cached", vertex.digest, vertex.name, duration=duration))
            else:
                lines.append(f"{tag} DONE {duration:.1f}s")
                updates.append(StepUpdate("finished", vertex.digest, vertex.name, duration=duration))

    def _log(self, raw: dict, lines: list[str]) -> None:
        vertex = self.vertices.get(raw.get("vertex", ""))
        if vertex is None:
            vertex = self._get({"digest": raw.get("vertex", ""), "name": "output"})
        try:
            text = base64.b64decode(raw.get("data") or "").decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            return
        text = vertex.partial + text.replace("\r\n", "\n")
        parts = text.split("\n")
        vertex.partial = parts.pop()
        for part in parts:
            # Progress bars redraw with \r; keep what the line finally showed.
            self._output_line(vertex, part.rsplit("\r", 1)[-1], lines)

    def _output_line(self, vertex: Vertex, text: str, lines: list[str]) -> None:
        vertex.tail.append(text)
        lines.append(f"#{vertex.number} {text}")

    def _warning(self, raw: dict, lines: list[str]) -> None:
        try:
            short = base64.b64decode(raw.get("short") or "").decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            short = ""
        lines.append(f"WARNING: {short.strip()}")


def _parse_ts(value: str | None) -> float | None:
    if not value:
        return None
    # RFC 3339 with nanoseconds; Python takes at most microseconds.
    main, _, frac = value.rstrip("Z").partition(".")
    zone = ""
    for sign in ("+", "-"):
        if sign in frac:
            frac, _, zone = frac.partition(sign)
            zone = sign + zone
            break
    try:
        stamp = datetime.fromisoformat(f"{main}.{(frac or '0')[:6].ljust(6, '0')}{zone or '+00:00'}")
    except ValueError:
        return None
    return stamp.timestamp()


def _duration(started: str | None, completed: str | None) -> float:
    start, end = _parse_ts(started), _parse_ts(completed)
    if start is None or end is None:
        return 0.0
    return max(0.0, end - start)
