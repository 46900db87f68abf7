"""Which services a change touches: git changed paths, watch globs, .dockerignore, commit-message triggers."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pathspec
from pathspec.patterns.gitignore.basic import GitIgnoreBasicPattern

from .config import Config, Service
from .gitinfo import git

FORCE_RE = re.compile(r"force rebuild|rebuild force|force build|build force", re.IGNORECASE)
SKIP_RE = re.compile(r"\[skip build\]", re.IGNORECASE)
FETCH_DEEPER = "fetch deeper: git fetch --unshallow (or --deepen=N), or actions/checkout with fetch-depth: 0"


class ChangeError(Exception):
    """A change-detection problem the user must fix (bad base ref, shallow clone), as one line."""


class BuildHistory(Protocol):
    """What change detection needs from the build history."""

    def last_success_sha(self, service: str) -> str | None: ...

    def last_status(self, service: str) -> str | None: ...


class NoHistory:
    """No recorded builds: every service's first build is due."""

    def last_success_sha(self, service: str) -> str | None:
        return None

    def last_status(self, service: str) -> str | None:
        return None


# -- .dockerignore ---------------------------------------------------------------------------------


def read_dockerignore_lines(text: str) -> list[str]:
    """Patterns of a .dockerignore as Docker normalises them (trimmed, cleaned, leading '/' dropped)."""
    patterns = []
    for raw in text.splitlines():
        if raw.startswith("#"):
            continue
        line = raw.strip()
        if not line:
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        if line:
            line = os.path.normpath(line).replace(os.sep, "/").lstrip("/") or "."
        patterns.append(("!" if exclusion else "") + line)
    return patterns


class DockerIgnore:
    """Docker's .dockerignore matching: patterns anchored at the context root, '!' exceptions,
    last match wins, and a pattern matching a parent directory excludes everything under it."""

    def __init__(self, lines: Iterable[str] = ()) -> None:
        self.patterns: list[tuple[bool, GitIgnoreBasicPattern]] = []
        for line in lines:
            exclusion = line.startswith("!")
            body = line[1:] if exclusion else line
            if not body or body == ".":
                continue
            # A leading '/' anchors a gitignore pattern at the root, which is where Docker anchors every one.
            self.patterns.append((exclusion, GitIgnoreBasicPattern("/" + body)))

    @classmethod
    def from_file(cls, path: Path) -> DockerIgnore:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            return cls()
        return cls(read_dockerignore_lines(text))

    def excludes(self, rel_path: str) -> bool:
        """True when rel_path (relative to the context, '/'-separated) never reaches the build."""
        parts = rel_path.split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for exclusion, pattern in self.patterns:
            # Same short-cut as Docker: an include only matters if not yet excluded, and vice versa.
            if exclusion != excluded:
                continue
            if any(pattern.match_file(c) is not None for c in candidates):
                excluded = not exclusion
        return excluded


def dockerignore_path(service: Service) -> Path:
    """BuildKit reads <Dockerfile>.dockerignore next to the Dockerfile first, else <context>/.dockerignore."""
    specific = service.dockerfile.with_name(service.dockerfile.name + ".dockerignore")
    return specific if specific.is_file() else service.context / ".dockerignore"


# -- path -> service matching ----------------------------------------------------------------------


def _real(path: Path | str) -> str:
    return os.path.realpath(path)


def _relative(path: str, root: str) -> str | None:
    """path relative to root ('/'-separated), or None when it is not under root."""
    if path == root:
        return ""
    prefix = root.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


class ServiceMatcher:
    """Decides whether an absolute path is an input of one service."""

    def __init__(self, config: Config, service: Service) -> None:
        self.service = service
        self.name = service.name
        self.context = _real(service.context)
        self.dockerfile = _real(service.dockerfile)
        ignore_file = dockerignore_path(service)
        self.ignore_file = _real(ignore_file)
        self.dockerignore = DockerIgnore.from_file(ignore_file)
        self.watch = pathspec.GitIgnoreSpec.from_lines(service.watch) if service.watch else None
        use_project = service.inherit_watch and config.project.watch
        self.project_context = _real(config.project.context)
        self.project_watch = pathspec.GitIgnoreSpec.from_lines(config.project.watch) if use_project else None

    def matches(self, path: str) -> bool:
        """path: absolute and real (symlinks resolved)."""
        if path in (self.dockerfile, self.ignore_file):
            return True  # always sent to the builder, whatever .dockerignore says
        in_context = _relative(path, self.context)
        if in_context == "":
            return False
        if in_context is not None and (self.watch is None or self.watch.match_file(in_context)):
            # No watch list narrows it down: everything the context sends is an input.
            hit = True
        elif self.project_watch is not None:
            in_project = _relative(path, self.project_context)
            hit = bool(in_project) and self.project_watch.match_file(in_project)
        else:
            hit = False
        # .dockerignore last: it is the costly check, and only files inside the context reach it.
        return hit and (in_context is None or not self.dockerignore.excludes(in_context))

    def display(self, path: str, repo_root: str | None) -> str:
        """The path as a row shows it: relative to the context, else to the repository."""
        for root in (self.context, repo_root):
            rel = _relative(path, root) if root else None
            if rel:
                return rel
        return path


def changed_reason(paths: list[str]) -> str:
    more = f" (+{len(paths) - 1} more)" if len(paths) > 1 else ""
    return f"changed: {paths[0]}{more}"


# -- git -------------------------------------------------------------------------------------------


def _z_list(text: str) -> list[str]:
    return [p for p in text.split("\0") if p]


class GitRepo:
    """The git checkout around a directory, queried with argv lists only."""

    def __init__(self, top: str) -> None:
        self.top = top
        self._diffs: dict[tuple[str, str], list[str]] = {}

    @classmethod
    def find(cls, directory: Path) -> GitRepo | None:
        try:
            result = git(directory, "rev-parse", "--show-toplevel")
        except (OSError, subprocess.TimeoutExpired):
            return None
        top = result.stdout.strip()
        return cls(_real(top)) if result.returncode == 0 and top else None

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return git(Path(self.top), *args, timeout=120)

    def head(self) -> str | None:
        result = self.run("rev-parse", "--verify", "--quiet", "HEAD^{commit}")
        return result.stdout.strip() if result.returncode == 0 else None

    def is_shallow(self) -> bool:
        return self.run("rev-parse", "--is-shallow-repository").stdout.strip() == "true"

    def resolve(self, ref: str) -> str | None:
        if not ref or ref.startswith("-"):
            return None
        result = self.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        return result.stdout.strip() if result.returncode == 0 else None

    def merge_base(self, sha: str, other: str = "HEAD") -> str | None:
        result = self.run("merge-base", sha, other)
        return result.stdout.strip() if result.returncode == 0 else None

    def head_message(self) -> str:
        return self.run("log", "-1", "--format=%B", "HEAD").stdout

    def absolute(self, rel: str) -> str:
        return os.path.join(self.top, rel)

    def diff(self, old: str, new: str = "HEAD") -> list[str]:
        """Absolute paths that differ between two commits (a rename counts as both of its paths)."""
        key = (old, new)
        if key not in self._diffs:
            result = self.run("diff", "--name-only", "--no-renames", "-z", old, new, "--")
            if result.returncode != 0:
                detail = (result.stderr.strip().splitlines() or ["failed"])[-1]
                raise ChangeError(f"git diff {old[:12]} {new}: {detail}")
            self._diffs[key] = [self.absolute(p) for p in _z_list(result.stdout)]
        return self._diffs[key]

    def worktree_changes(self, has_head: bool) -> list[str]:
        """Uncommitted (staged or not) and untracked, not ignored, paths."""
        paths: list[str] = []
        if has_head:
            result = self.run("diff", "--name-only", "--no-renames", "-z", "HEAD", "--")
            paths += _z_list(result.stdout)
        else:
            paths += _z_list(self.run("ls-files", "-z", "--cached").stdout)
        paths += _z_list(self.run("ls-files", "-z", "--others", "--exclude-standard").stdout)
        return [self.absolute(p) for p in dict.fromkeys(paths)]


# -- detection -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    due: bool
    reason: str
    paths: tuple[str, ...] = ()


@dataclass
class Detection:
    """Per service: due or not and why; plus warnings to show once."""

    decisions: dict[str, Decision] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    head: str = ""
    base: str = ""  # the explicit base commit, if one was used


def commit_trigger(message: str) -> str | None:
    """'skip', 'force' or None from a commit message ('[skip build]' wins over a force phrase)."""
    if SKIP_RE.search(message):
        return "skip"
    if FORCE_RE.search(message):
        return "force"
    return None


def _explicit_base(repo: GitRepo, ref: str, label: str) -> str:
    """The commit to diff HEAD against for an explicit base: the merge base, as `git diff base...HEAD`."""
    shallow = repo.is_shallow()
    sha = repo.resolve(ref)
    if sha is None:
        if shallow:
            raise ChangeError(f"{label} '{ref}' is not in this shallow clone; {FETCH_DEEPER}")
        raise ChangeError(f"{label} '{ref}' is not a branch, tag or commit in {repo.top}")
    base = repo.merge_base(sha)
    if base is None:
        if shallow:
            raise ChangeError(
                f"{label} '{ref}': its history with HEAD is cut off in this shallow clone; {FETCH_DEEPER}"
            )
        raise ChangeError(f"{label} '{ref}' has no common ancestor with HEAD")
    return base


def detect(
    config: Config,
    *,
    base: str | None = None,
    history: BuildHistory | None = None,
    force: Collection[str] = (),
    force_all: bool = False,
    kinds: Collection[str] = ("cpu", "gpu"),
) -> Detection:
    """Decide for every service whether it is due and why. Raises ChangeError for a bad base."""
    history = history or NoHistory()
    result = Detection()
    selected = [s for s in config.services if s.enabled and s.kind in kinds]
    for service in config.services:
        if not service.enabled:
            result.decisions[service.name] = Decision(False, "disabled")
        elif service.kind not in kinds:
            result.decisions[service.name] = Decision(False, f"{service.kind} not selected")
    undecided = []
    for service in selected:
        if force_all or service.name in force:
            result.decisions[service.name] = Decision(True, "forced")
        else:
            undecided.append(service)

    repo = GitRepo.find(config.root)
    if repo is None:
        if undecided:
            result.warnings.append(f"{config.root} is not a git repository: every service is due")
        for service in undecided:
            result.decisions[service.name] = Decision(True, "not a git repository")
        return _ordered(config, result)

    head = repo.head()
    result.head = head or ""
    if head is not None and undecided:
        trigger = commit_trigger(repo.head_message())
        if trigger is not None:
            due, reason = (
                (True, "forced by commit message")
                if trigger == "force"
                else (False, "skipped by commit message")
            )
            for service in undecided:
                result.decisions[service.name] = Decision(due, reason)
            return _ordered(config, result)

    # An explicit base is checked even when nothing is left to decide: a typo must not pass silently.
    if base:
        label, ref = "--base", base
    elif config.build.base_ref:
        label, ref = f"{config.path.name}: [build] base_ref", config.build.base_ref
    else:
        label, ref = "", ""
    if ref and head is None:
        raise ChangeError(f"{label} '{ref}': the repository has no commit yet")
    explicit = _explicit_base(repo, ref, label) if ref else None
    result.base = explicit or ""
    if not undecided:
        return _ordered(config, result)

    worktree: list[str] | None = None  # read once, when the first service gets to comparing paths
    shallow: bool | None = None
    for service in undecided:
        if explicit is not None:
            since, committed = explicit, repo.diff(explicit)
        else:
            if history.last_status(service.name) == "failed":
                result.decisions[service.name] = Decision(True, "last build failed")
                continue
            recorded = history.last_success_sha(service.name)
            if not recorded or head is None:
                result.decisions[service.name] = Decision(True, "first build")
                continue
            since = repo.resolve(recorded)
            if since is None:
                shallow = repo.is_shallow() if shallow is None else shallow
                if shallow:
                    result.warnings.append(
                        f"{service.name}: last built commit {recorded[:7]} is not in this "
                        f"shallow clone; {FETCH_DEEPER}"
                    )
                result.decisions[service.name] = Decision(True, f"last built commit {recorded[:7]} not found")
                continue
            # Two-dot: the image holds that commit's tree, so whatever differs from it is a change,
            # even when HEAD is on another branch.
            committed = repo.diff(since)
        if worktree is None:
            worktree = repo.worktree_changes(has_head=head is not None)
        matcher = ServiceMatcher(config, service)
        paths = [
            matcher.display(p, repo.top) for p in dict.fromkeys(committed + worktree) if matcher.matches(p)
        ]
        if paths:
            result.decisions[service.name] = Decision(True, changed_reason(paths), tuple(paths))
        else:
            result.decisions[service.name] = Decision(False, f"no changes since {since[:7]}")
    return _ordered(config, result)


def _ordered(config: Config, result: Detection) -> Detection:
    result.decisions = {
        s.name: result.decisions[s.name] for s in config.services if s.name in result.decisions
    }
    return result
