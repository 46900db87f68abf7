"""Live file watcher: which services a saved file makes due, as an async stream the dashboard consumes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pathspec
from watchfiles import Change, DefaultFilter, awatch

from .changes import GitRepo, ServiceMatcher
from .config import Config
from .gitinfo import git

# Rust-side batching: a batch is handed over once no new change arrived for STEP_MS, and at the latest
# MAX_BATCH_MS after its first change (so a steady trickle, e.g. build logs, cannot hold a save back).
STEP_MS = 50
MAX_BATCH_MS = 200
# How often the Rust side wakes up without changes (readiness and stop are noticed at least this often).
WAKE_MS = 200
# A directory moved into the tree is walked for its files; a huge one is cut off here.
MAX_WALK = 50_000


@dataclass(frozen=True, slots=True)
class ServicesChanged:
    """Services that just became due: service -> the file that triggered it (relative, for a row)."""

    services: dict[str, str]
    changed_paths: int = 0  # how many file-system changes the batch held
    ts: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class WatchWarning:
    """The watcher hit a problem (e.g. the watched directory vanished) and is retrying."""

    message: str


class _Filter(DefaultFilter):
    """watchfiles' default junk filter (.git, __pycache__, editor swap files) plus the state directory."""

    def __init__(self, ignore_paths: Iterable[str], on_batch: Callable[[], None]) -> None:
        super().__init__(ignore_paths=tuple(ignore_paths))
        self.on_batch = on_batch

    def __call__(self, change: Change, path: str) -> bool:
        # Called for every change of a batch, even one that is all filtered out (constant build-log
        # writes mean the Rust side never idles into a timeout): proof the watches are in place.
        self.on_batch()
        return super().__call__(change, path)


class ServiceWatcher:
    """Watches the repository and yields ServicesChanged as files are saved.

    A service is reported once and then stays pending until the consumer calls `clear(name)`
    (typically when its build starts), so a burst of thousands of changes marks it once.
    Use: `async for event in watcher.watch(): ...`; `watcher.stop()` ends the iteration.
    """

    def __init__(
        self,
        config: Config,
        *,
        step_ms: int = STEP_MS,
        max_batch_ms: int = MAX_BATCH_MS,
        wake_ms: int = WAKE_MS,
    ) -> None:
        self.config = config
        self.repo = GitRepo.find(config.root)
        self.root = self.repo.top if self.repo else os.path.realpath(config.root)
        self.matchers = [ServiceMatcher(config, s) for s in config.services if s.enabled]
        self.step_ms = step_ms
        self.max_batch_ms = max_batch_ms
        self.wake_ms = wake_ms
        self.ready = asyncio.Event()  # set once the file-system watches are in place
        self.pending: dict[str, str] = {}
        self._stop = asyncio.Event()
        self._ignore_paths = [os.path.realpath(config.state_dir), os.path.join(self.root, ".git")]
        self._root_gitignore = self._load_root_gitignore() if self.repo is None else None

    def stop(self) -> None:
        self._stop.set()

    def clear(self, *names: str) -> None:
        """Forget that these services (all when none given) were reported, so they can be reported again."""
        for name in names or list(self.pending):
            self.pending.pop(name, None)

    async def watch(self) -> AsyncIterator[ServicesChanged | WatchWarning]:
        watch_filter = _Filter(self._ignore_paths, self.ready.set)
        while not self._stop.is_set():
            try:
                async for raw in awatch(
                    self.root,
                    watch_filter=watch_filter,
                    debounce=self.max_batch_ms,
                    step=self.step_ms,
                    stop_event=self._stop,
                    rust_timeout=self.wake_ms,
                    yield_on_timeout=True,
                ):
                    self.ready.set()
                    if not raw:
                        continue
                    hits = await asyncio.to_thread(self._hits, raw)
                    new = {name: path for name, path in hits.items() if name not in self.pending}
                    if new:
                        self.pending.update(new)
                        yield ServicesChanged(new, changed_paths=len(raw))
                return
            except (OSError, RuntimeError) as error:
                # The root was removed or renamed away, or inotify ran out of watches: retry shortly.
                yield WatchWarning(f"file watcher on {self.root}: {error}; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 1.0)

    # -- batch -> services (runs in a worker thread: it may call git)
    def _hits(self, raw: set[tuple[Change, str]]) -> dict[str, str]:
        """service -> the first changed path (sorted) that is one of its inputs and not git-ignored."""
        paths = [p for p in self._expand(raw) if not os.path.isdir(p)]
        ignored = self._ignored(paths)
        hits: dict[str, str] = {}
        for path in paths:
            if path in ignored:
                continue
            for matcher in self.matchers:
                if matcher.name not in hits and matcher.matches(path):
                    hits[matcher.name] = matcher.display(path, self.root)
            if len(hits) == len(self.matchers):
                break
        return hits

    def _expand(self, raw: set[tuple[Change, str]]) -> list[str]:
        """Changed file paths, sorted; a directory moved in lists its files, one moved out its tracked files."""
        paths: set[str] = set()
        vanished: list[str] = []
        # Paths come under self.root, which is already real: no per-path realpath (a burst has thousands).
        for change, path in raw:
            if change is Change.added and os.path.isdir(path):
                paths.update(_walk(path))
            elif change is Change.deleted and not os.path.lexists(path):
                vanished.append(path)
            paths.add(path)
        unmatched = [p for p in vanished if not any(m.matches(p) for m in self.matchers)]
        if unmatched and self.repo is not None:
            paths.update(self._tracked_under(unmatched))
        return sorted(paths)

    def _tracked_under(self, paths: list[str]) -> list[str]:
        assert self.repo is not None
        rel = [os.path.relpath(p, self.root) for p in paths]
        try:
            result = git(self.root, "--literal-pathspecs", "ls-files", "-z", "--", *rel)
        except (OSError, subprocess.TimeoutExpired):
            return []
        return [self.repo.absolute(p) for p in result.stdout.split("\0") if p]

    def _ignored(self, paths: list[str]) -> set[str]:
        """The paths git ignores (.gitignore, info/exclude, global excludes); tracked files never are."""
        if not paths:
            return set()
        rel = {os.path.relpath(p, self.root): p for p in paths}
        if self.repo is None:
            spec = self._root_gitignore
            return {abs_ for r, abs_ in rel.items() if spec is not None and spec.match_file(r)}
        try:
            result = git(self.root, "check-ignore", "-z", "--stdin", input="\0".join(rel) + "\0")
        except (OSError, subprocess.TimeoutExpired):
            return set()
        return {rel[r] for r in result.stdout.split("\0") if r in rel}

    def _load_root_gitignore(self) -> pathspec.GitIgnoreSpec | None:
        try:
            text = Path(self.root, ".gitignore").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        return pathspec.GitIgnoreSpec.from_lines(text.splitlines())


def _walk(directory: str) -> list[str]:
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        found.extend(os.path.join(dirpath, name) for name in filenames)
        if len(found) >= MAX_WALK:
            break
    return found
