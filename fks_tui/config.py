"""Load and validate services.toml into immutable config objects, with one-line errors."""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pathspec

from .sizes import Threshold, parse_size, parse_threshold

KINDS = ("cpu", "gpu")
PUSH_MODES = ("batch", "eager", "off")
TEMPLATE_FIELDS = ("service", "kind", "sha", "short_sha", "branch", "date")

# A Docker tag: up to 128 word characters, dots and dashes, not starting with . or -.
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# A Docker repository reference: optional registry host[:port], then lowercase path components.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = (
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)"
)
REPOSITORY_RE = re.compile(rf"^(?:{_HOST}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_ARG_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")


class ConfigError(Exception):
    """A services.toml problem, rendered as one line: file:line: where: what."""

    def __init__(self, path: Path | str, message: str, line: int | None = None, where: str = "") -> None:
        self.path = Path(path)
        self.message = message
        self.line = line
        self.where = where
        super().__init__(str(self))

    def __str__(self) -> str:
        location = f"{self.path}:{self.line}" if self.line else f"{self.path}"
        where = f" {self.where}:" if self.where else ""
        return f"{location}:{where} {self.message}"


@dataclass(frozen=True, slots=True)
class TemplateValues:
    """Values for tag and build-arg templates, known once per run."""

    sha: str = "0000000000000000000000000000000000000000"
    branch: str = "main"
    date: str = "19700101"

    @property
    def short_sha(self) -> str:
        return self.sha[:7]


def sanitize_tag_part(value: str) -> str:
    """A value made safe inside a Docker tag (branch names contain '/')."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", value)


def render_template(template: str, service: str, kind: str, values: TemplateValues) -> str:
    """Substitute {service} {kind} {sha} {short_sha} {branch} {date} in template."""
    mapping = {
        "service": service,
        "kind": kind,
        "sha": values.sha,
        "short_sha": values.short_sha,
        "branch": sanitize_tag_part(values.branch),
        "date": values.date,
    }
    return _PLACEHOLDER_RE.sub(lambda m: mapping[m.group(1)], template)


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    kind: str
    context: Path
    dockerfile: Path
    target: str
    tag_templates: tuple[str, ...]
    args: Mapping[str, str]
    watch: tuple[str, ...]
    inherit_watch: bool
    enabled: bool
    network: str
    builder: str
    image: str
    line: int | None = None

    def tag_names(self, values: TemplateValues) -> tuple[str, ...]:
        """The rendered tags alone ("api-latest")."""
        return tuple(render_template(t, self.name, self.kind, values) for t in self.tag_templates)

    def tags(self, values: TemplateValues) -> tuple[str, ...]:
        """Full image references (repository:tag) for this service."""
        return tuple(f"{self.image}:{tag}" for tag in self.tag_names(values))

    def build_args(self, values: TemplateValues) -> dict[str, str]:
        return {k: render_template(v, self.name, self.kind, values) for k, v in self.args.items()}


@dataclass(frozen=True, slots=True)
class Project:
    name: str
    image: str
    tags: tuple[str, ...]
    context: Path
    dockerfile: str
    target: str
    watch: tuple[str, ...]
    network: str
    builder: str
    args: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class BuildSettings:
    cpu_parallelism: int = 8
    gpu_parallelism: int = 2
    push_parallelism: int = 4
    push: str = "batch"
    base_ref: str = ""

    def parallelism(self, kind: str) -> int:
        return self.cpu_parallelism if kind == "cpu" else self.gpu_parallelism


@dataclass(frozen=True, slots=True)
class DiskSettings:
    path: Path | None = None
    warn_free: Threshold = field(default_factory=lambda: parse_threshold("20GiB"))
    cleanup_free: Threshold = field(default_factory=lambda: parse_threshold("10GiB"))
    critical_free: Threshold = field(default_factory=lambda: parse_threshold("5GiB"))
    keep_build_cache: int = 5 * 1024**3
    cleanup_before_build: bool = True
    cleanup_after_build: bool = True
    interval: float = 5.0


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    project: Project
    build: BuildSettings
    disk: DiskSettings
    services: tuple[Service, ...]

    @property
    def root(self) -> Path:
        """The directory holding services.toml; relative paths start here."""
        return self.path.parent

    @property
    def state_dir(self) -> Path:
        """Where runs, logs and history live (.fks beside services.toml)."""
        return self.root / ".fks"

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def service_names(self) -> list[str]:
        return [s.name for s in self.services]

    def unknown_services(self, names: list[str] | tuple[str, ...]) -> list[str]:
        known = set(self.service_names())
        return [n for n in names if n not in known]


class _LineIndex:
    """Finds the line of a key in the TOML text; tomllib gives none."""

    _HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\"-]+)\s*\]\]?")
    _KEY_RE = re.compile(r"^\s*([A-Za-z0-9_-]+|\"[^\"]*\")\s*=")

    def __init__(self, text: str) -> None:
        self.sections: dict[str, int] = {}
        self.keys: dict[tuple[str, str], int] = {}
        section = ""
        service_count = 0
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._HEADER_RE.match(line)
            if header:
                name = header.group(2).replace('"', "")
                if header.group(1) == "[[":
                    if name == "service":
                        section = f"service#{service_count}"
                        service_count += 1
                    else:
                        section = name
                else:
                    section = (
                        name if not name.startswith("service.") else f"service#{service_count - 1}.{name[8:]}"
                    )
                self.sections.setdefault(section, number)
                continue
            key = self._KEY_RE.match(line)
            if key:
                self.keys.setdefault((section, key.group(1).strip('"')), number)

    def line(self, section: str, key: str | None = None) -> int | None:
        if key is not None and (section, key) in self.keys:
            return self.keys[(section, key)]
        if key is not None and section == "" and key in self.sections:
            return self.sections[key]  # a top-level key written as a [table] header
        return self.sections.get(section)


_PROJECT_KEYS = {
    "name",
    "image",
    "tags",
    "context",
    "dockerfile",
    "target",
    "watch",
    "network",
    "builder",
    "args",
}
_BUILD_KEYS = {"cpu_parallelism", "gpu_parallelism", "push_parallelism", "push", "base_ref"}
_DISK_KEYS = {
    "path",
    "warn_free",
    "cleanup_free",
    "critical_free",
    "keep_build_cache",
    "cleanup_before_build",
    "cleanup_after_build",
    "interval",
}
_SERVICE_KEYS = {
    "name",
    "kind",
    "args",
    "watch",
    "context",
    "dockerfile",
    "target",
    "tags",
    "network",
    "builder",
    "inherit_watch",
    "enabled",
}
_TOP_KEYS = {"project", "build", "disk", "service"}
_NETWORKS = ("none", "host", "default")


class _Loader:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = _LineIndex(text)

    def fail(self, message: str, section: str, key: str | None = None, where: str | None = None):
        raise ConfigError(
            self.path, message, self.lines.line(section, key), where if where is not None else ""
        )

    def check_keys(self, table: Mapping[str, Any], allowed: set[str], section: str, where: str) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = (
                    f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(sorted(allowed))})"
                )
                self.fail(f"unknown key '{key}'{hint}", section, key, where)

    def typed(self, table, key, types, section, where, default=None, type_name=""):
        if key not in table:
            return default
        value = table[key]
        # bool is an int in Python; never accept it where a number is wanted.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
            self.fail(
                f"key '{key}' must be {type_name}, got {type(value).__name__} {value!r}", section, key, where
            )
        return value

    def string_list(self, table, key, section, where, default=()):
        value = self.typed(table, key, list, section, where, None, "a list of strings")
        if value is None:
            return tuple(default)
        for item in value:
            if not isinstance(item, str):
                self.fail(f"key '{key}' must be a list of strings, got {item!r} in it", section, key, where)
        return tuple(value)

    def watch_patterns(self, table, section, where) -> tuple[str, ...]:
        """The `watch` globs, each checked as a gitignore-style pattern (what change detection compiles)."""
        patterns = self.string_list(table, "watch", section, where)
        for pattern in patterns:
            try:
                pathspec.GitIgnoreSpec.from_lines([pattern])
            except ValueError as error:
                self.fail(
                    f"key 'watch': {error} (gitignore-style globs, e.g. \"src/api/**\")",
                    section,
                    "watch",
                    where,
                )
        return patterns

    def string_map(self, table, key, section, where):
        value = self.typed(table, key, dict, section, where, {}, "a table of strings")
        result = {}
        for name, item in value.items():
            if not _ARG_NAME_RE.match(name):
                self.fail(f"build arg name '{name}' is not a valid name", section, key, where)
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                self.fail(f"build arg '{name}' must be a string, got {item!r}", section, key, where)
            result[name] = str(item)
        return result

    def tag_templates(self, table, section, where, default) -> tuple[str, ...]:
        """The 'tags' key: a non-empty list of templates with known placeholders only."""
        tags = self.string_list(table, "tags", section, where, default)
        if not tags:
            self.fail("key 'tags' must name at least one tag template", section, "tags", where)
        self.check_templates(tags, section, "tags", where)
        return tags

    def check_templates(self, templates, section, key, where) -> None:
        for template in templates:
            for name in _PLACEHOLDER_RE.findall(template):
                if name not in TEMPLATE_FIELDS:
                    self.fail(
                        f"unknown placeholder '{{{name}}}' in '{template}' "
                        f"(known: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)})",
                        section,
                        key,
                        where,
                    )

    def load(self, data: Mapping[str, Any]) -> Config:
        self.check_keys(data, _TOP_KEYS, "", "")
        project_table = data.get("project")
        if not isinstance(project_table, dict):
            self.fail("missing [project] table (it needs at least name and image)", "")
        project = self.load_project(project_table)
        build = self.load_build(data.get("build", {}))
        disk = self.load_disk(data.get("disk", {}), project.context)
        raw_services = data.get("service", [])
        if not isinstance(raw_services, list):
            self.fail("'service' must be an array of tables: write [[service]]", "")
        if not raw_services:
            self.fail("no [[service]] defined", "")
        services: list[Service] = []
        seen: dict[str, int] = {}
        for index, table in enumerate(raw_services):
            service = self.load_service(table, index, project)
            if service.name in seen:
                self.fail(
                    f"duplicate service name '{service.name}' (also service #{seen[service.name] + 1})",
                    f"service#{index}",
                    "name",
                    f"[[service]] '{service.name}'",
                )
            seen[service.name] = index
            services.append(service)
        return Config(self.path, project, build, disk, tuple(services))

    def load_project(self, table) -> Project:
        section, where = "project", "[project]"
        self.check_keys(table, _PROJECT_KEYS, section, where)
        name = self.typed(table, "name", str, section, where, None, "a string")
        if not name:
            self.fail("key 'name' is required", section, "name", where)
        image = self.typed(table, "image", str, section, where, None, "a string")
        if not image:
            self.fail("key 'image' is required (e.g. \"127.0.0.1:5000/org/name\")", section, "image", where)
        if not REPOSITORY_RE.match(image):
            self.fail(
                f"key 'image' = '{image}' is not a valid image repository "
                "(lowercase path, optional host:port, no tag)",
                section,
                "image",
                where,
            )
        tags = self.tag_templates(table, section, where, ("{service}-latest",))
        context_rel = self.typed(table, "context", str, section, where, ".", "a string")
        context = (self.path.parent / context_rel).resolve()
        if not context.is_dir():
            self.fail(
                f"key 'context': directory '{context_rel}' does not exist ({context})",
                section,
                "context",
                where,
            )
        dockerfile = self.typed(table, "dockerfile", str, section, where, "Dockerfile", "a string")
        target = self.typed(table, "target", str, section, where, "", "a string")
        watch = self.watch_patterns(table, section, where)
        network = self.typed(table, "network", str, section, where, "none", "a string")
        self.check_network(network, section, where)
        builder = self.typed(table, "builder", str, section, where, "", "a string")
        args = self.string_map(table, "args", "project.args" if "args" in table else section, where)
        self.check_templates(args.values(), "project.args", None, "[project.args]")
        return Project(name, image, tags, context, dockerfile, target, watch, network, builder, args)

    def check_network(self, network: str, section: str, where: str) -> None:
        if network not in _NETWORKS:
            self.fail(
                f"key 'network' = '{network}' is not allowed (use one of: {', '.join(_NETWORKS)}; "
                "fks-tui never attaches builds to a bridge network)",
                section,
                "network",
                where,
            )

    def load_build(self, table) -> BuildSettings:
        section, where = "build", "[build]"
        if not isinstance(table, dict):
            self.fail("'build' must be a table", "")
        self.check_keys(table, _BUILD_KEYS, section, where)
        values = {}
        defaults = BuildSettings()
        for key in ("cpu_parallelism", "gpu_parallelism", "push_parallelism"):
            value = self.typed(table, key, int, section, where, getattr(defaults, key), "an integer")
            if value < 1:
                self.fail(f"key '{key}' must be at least 1, got {value}", section, key, where)
            values[key] = value
        push = self.typed(table, "push", str, section, where, "batch", "a string")
        if push not in PUSH_MODES:
            self.fail(
                f"key 'push' must be one of {', '.join(PUSH_MODES)}, got '{push}'", section, "push", where
            )
        base_ref = self.typed(table, "base_ref", str, section, where, "", "a string")
        return BuildSettings(push=push, base_ref=base_ref, **values)

    def load_disk(self, table, context: Path) -> DiskSettings:
        section, where = "disk", "[disk]"
        if not isinstance(table, dict):
            self.fail("'disk' must be a table", "")
        self.check_keys(table, _DISK_KEYS, section, where)
        defaults = DiskSettings()
        path_text = self.typed(table, "path", str, section, where, None, "a string")
        path = None
        if path_text:
            path = (self.path.parent / path_text).resolve()
            if not path.exists():
                self.fail(f"key 'path': '{path_text}' does not exist", section, "path", where)
        thresholds = {}
        for key in ("warn_free", "cleanup_free", "critical_free"):
            raw = self.typed(table, key, str | int, section, where, None, "a size or percentage string")
            if raw is None:
                thresholds[key] = getattr(defaults, key)
                continue
            try:
                thresholds[key] = parse_threshold(raw)
            except ValueError as error:
                self.fail(f"key '{key}': {error}", section, key, where)
        self.check_threshold_order(thresholds, section, where)
        keep_raw = self.typed(table, "keep_build_cache", str | int, section, where, None, "a size string")
        keep = defaults.keep_build_cache
        if keep_raw is not None:
            try:
                keep = parse_size(keep_raw)
            except ValueError as error:
                self.fail(f"key 'keep_build_cache': {error}", section, "keep_build_cache", where)
        before = self.typed(table, "cleanup_before_build", bool, section, where, True, "true or false")
        after = self.typed(table, "cleanup_after_build", bool, section, where, True, "true or false")
        interval = self.typed(table, "interval", int | float, section, where, 5.0, "a number of seconds")
        if interval <= 0:
            self.fail("key 'interval' must be above 0", section, "interval", where)
        return DiskSettings(
            path,
            keep_build_cache=keep,
            cleanup_before_build=before,
            cleanup_after_build=after,
            interval=float(interval),
            **thresholds,
        )

    def check_threshold_order(self, thresholds: dict[str, Threshold], section: str, where: str) -> None:
        # Comparable only when all are of the same unit; percentages are checked on a 100-unit disk.
        kinds = {t.percent is not None for t in thresholds.values()}
        if len(kinds) != 1:
            return
        size = {k: t.resolve(100 * 1024**4) for k, t in thresholds.items()}
        if not size["critical_free"] <= size["cleanup_free"] <= size["warn_free"]:
            self.fail(
                "thresholds out of order: need critical_free <= cleanup_free <= warn_free, got "
                f"critical_free={thresholds['critical_free'].raw}, cleanup_free={thresholds['cleanup_free'].raw}, "
                f"warn_free={thresholds['warn_free'].raw}",
                section,
                "critical_free",
                where,
            )

    def load_service(self, table, index: int, project: Project) -> Service:
        section = f"service#{index}"
        if not isinstance(table, dict):
            self.fail("each [[service]] must be a table", section)
        raw_name = table.get("name")
        where = f"[[service]] '{raw_name}'" if isinstance(raw_name, str) else f"[[service]] #{index + 1}"
        self.check_keys(table, _SERVICE_KEYS, section, where)
        name = self.typed(table, "name", str, section, where, None, "a string")
        if name is None:
            self.fail("key 'name' is required", section, None, where)
        if not TAG_RE.match(name):
            self.fail(
                f"service name '{name}' is not a valid Docker tag component "
                "(letters, digits, '_', '.', '-'; not starting with '.' or '-'; at most 128)",
                section,
                "name",
                where,
            )
        kind = self.typed(table, "kind", str, section, where, None, "a string")
        if kind not in KINDS:
            self.fail(f'key \'kind\' must be "cpu" or "gpu", got {kind!r}', section, "kind", where)
        context_rel = self.typed(table, "context", str, section, where, None, "a string")
        if context_rel is None:
            context = project.context
        else:
            context = (self.path.parent / context_rel).resolve()
            if not context.is_dir():
                self.fail(
                    f"key 'context': directory '{context_rel}' does not exist", section, "context", where
                )
        dockerfile_rel = self.typed(table, "dockerfile", str, section, where, project.dockerfile, "a string")
        dockerfile = (context / dockerfile_rel).resolve()
        if not dockerfile.is_file():
            key = "dockerfile" if "dockerfile" in table else None
            self.fail(f"Dockerfile '{dockerfile_rel}' not found in context {context}", section, key, where)
        target = self.typed(table, "target", str, section, where, project.target, "a string")
        tags = self.tag_templates(table, section, where, project.tags)
        args = dict(project.args)
        args.update(self.string_map(table, "args", section, where))
        self.check_templates(args.values(), section, "args", where)
        watch = self.watch_patterns(table, section, where)
        inherit = self.typed(table, "inherit_watch", bool, section, where, True, "true or false")
        enabled = self.typed(table, "enabled", bool, section, where, True, "true or false")
        network = self.typed(table, "network", str, section, where, project.network, "a string")
        self.check_network(network, section, where)
        builder = self.typed(table, "builder", str, section, where, project.builder, "a string")
        service = Service(
            name,
            kind,
            context,
            dockerfile,
            target,
            tags,
            args,
            watch,
            inherit,
            enabled,
            network,
            builder,
            project.image,
            self.lines.line(section),
        )
        # A tag must be valid for any sha/branch/date: check with representative values.
        for sample in (TemplateValues(), TemplateValues(sha="f" * 40, branch="feature/x_y", date="20991231")):
            for tag in service.tag_names(sample):
                ref = f"{service.image}:{tag}"
                if not TAG_RE.match(tag):
                    self.fail(
                        f"tag template renders to '{ref}', which is not a valid image reference "
                        "(a tag is letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')",
                        section,
                        "tags" if "tags" in table else None,
                        where,
                    )
        return service


def _as_tuple(types) -> tuple:
    return getattr(types, "__args__", None) or (types if isinstance(types, tuple) else (types,))


def load_config(path: Path | str) -> Config:
    """Read and validate services.toml; raises ConfigError with a one-line message."""
    path = Path(path).absolute()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            path, "file not found (pass --config PATH or run from the repository root)"
        ) from None
    except OSError as error:
        raise ConfigError(path, f"cannot read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(path, "not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        line = None
        match = re.search(r"\(at line (\d+), column (\d+)\)", message)
        if match:
            line = int(match.group(1))
            message = message[: match.start()].strip()
        raise ConfigError(path, f"invalid TOML: {message}", line) from None
    return _Loader(path, text).load(data)
