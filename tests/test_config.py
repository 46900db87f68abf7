"""services.toml validation: every bad input is refused with one line naming file, line, service and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fks_tui.config import ConfigError, TemplateValues, load_config, render_template

GOOD = """\
[project]
name = "fks"
image = "127.0.0.1:5000/nuniesmith/fks"
tags = ["{service}-latest", "{service}-{short_sha}"]
context = "."
dockerfile = "Dockerfile"
target = "final"
network = "none"

[project.args]
BUILD_DATE = "{date}"

[build]
cpu_parallelism = 4
gpu_parallelism = 1

[[service]]
name = "api"
kind = "cpu"
args = { SERVICE_TYPE = "api" }

[[service]]
name = "training"
kind = "gpu"
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text("FROM fks/base:busybox AS final\n")
    return tmp_path


def write(repo: Path, text: str) -> Path:
    path = repo / "services.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_good_config_loads_with_defaults(repo):
    config = load_config(write(repo, GOOD))
    api = config.service("api")
    assert (
        api.kind == "cpu"
        and api.context == repo.resolve()
        and api.dockerfile == repo.resolve() / "Dockerfile"
    )
    assert api.target == "final" and api.network == "none" and api.enabled and api.inherit_watch
    assert api.args == {"BUILD_DATE": "{date}", "SERVICE_TYPE": "api"}
    assert config.build.cpu_parallelism == 4 and config.build.push_parallelism == 4
    assert config.build.push == "batch"
    assert [s.name for s in config.services] == ["api", "training"]


def test_tag_and_arg_templates_render(repo):
    config = load_config(write(repo, GOOD))
    values = TemplateValues(
        sha="0123456789abcdef0123456789abcdef01234567", branch="feature/new-ui", date="20261203"
    )
    assert config.service("api").tags(values) == (
        "127.0.0.1:5000/nuniesmith/fks:api-latest",
        "127.0.0.1:5000/nuniesmith/fks:api-0123456",
    )
    assert config.service("api").build_args(values)["BUILD_DATE"] == "20261203"
    assert render_template("{kind}-{branch}-{sha}", "x", "gpu", values) == (
        "gpu-feature-new-ui-0123456789abcdef0123456789abcdef01234567"
    )


BAD_CASES = [
    # (replace this, with this, expected message fragment, expected line)
    (
        'name = "api"\nkind = "cpu"',
        'name = "api"\nkind = "tpu"',
        "[[service]] 'api': key 'kind' must be \"cpu\" or \"gpu\", got 'tpu'",
        19,
    ),
    (
        'name = "training"',
        'name = "api"',
        "[[service]] 'api': duplicate service name 'api' (also service #1)",
        23,
    ),
    (
        'name = "training"',
        'name = "-bad name"',
        "[[service]] '-bad name': service name '-bad name' is not a valid Docker tag component",
        23,
    ),
    (
        "cpu_parallelism = 4",
        "cpu_parallelism = 0",
        "[build]: key 'cpu_parallelism' must be at least 1, got 0",
        14,
    ),
    (
        "gpu_parallelism = 1",
        'gpu_parallelism = "2"',
        "[build]: key 'gpu_parallelism' must be an integer, got str '2'",
        15,
    ),
    (
        'context = "."',
        'context = "nowhere"',
        "[project]: key 'context': directory 'nowhere' does not exist",
        5,
    ),
    (
        'kind = "gpu"',
        'kind = "gpu"\ndockerfile = "gpu/Dockerfile"',
        "[[service]] 'training': Dockerfile 'gpu/Dockerfile' not found in context",
        25,
    ),
    (
        'kind = "gpu"',
        'kind = "gpu"\nimage_name = "x"',
        "[[service]] 'training': unknown key 'image_name'",
        25,
    ),
    ('network = "none"', 'network = "bridge"', "[project]: key 'network' = 'bridge' is not allowed", 8),
    ('"{service}-latest"', '"{service}-{sha256}"', "[project]: unknown placeholder '{sha256}'", 4),
    (
        '"{service}-latest"',
        '"{service}:latest"',
        "[[service]] 'api': tag template renders to '127.0.0.1:5000/nuniesmith/fks:api:latest'",
        17,
    ),
    (
        'image = "127.0.0.1:5000/nuniesmith/fks"',
        'image = "127.0.0.1:5000/NuniesMith/FKS"',
        "[project]: key 'image' = '127.0.0.1:5000/NuniesMith/FKS' is not a valid image repository",
        3,
    ),
    ("[build]", '[build]\npush = "sometimes"', "[build]: key 'push' must be one of batch, eager, off", 14),
    (
        'kind = "gpu"',
        'kind = "gpu"\nenabled = "yes"',
        "[[service]] 'training': key 'enabled' must be true or false, got str 'yes'",
        25,
    ),
    ("[build]", "[bild]", "unknown key 'bild' (did you mean 'build'?)", 13),
    (
        'kind = "gpu"',
        'kind = "gpu"\nargs = { "BAD-NAME" = "x" }',
        "[[service]] 'training': build arg name 'BAD-NAME' is not a valid name",
        25,
    ),
    ('name = "api"\nkind = "cpu"', 'kind = "cpu"', "[[service]] #1: key 'name' is required", 17),
    (
        'kind = "gpu"',
        'kind = "gpu"\nwatch = ["src/**", "!"]',
        "[[service]] 'training': key 'watch': Invalid git pattern: '!'",
        25,
    ),
]


@pytest.mark.parametrize(("old", "new", "message", "line"), BAD_CASES, ids=[c[2][:40] for c in BAD_CASES])
def test_bad_input_is_one_line_naming_file_line_service_and_key(repo, old, new, message, line):
    assert old in GOOD
    path = write(repo, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(str(path) + (f":{line}:" if line else ":"))
    assert message in text


def test_tag_template_error_names_the_service(repo):
    path = write(repo, GOOD.replace('"{service}-latest"', '"{service}:latest"', 1))
    with pytest.raises(ConfigError, match=r"\[\[service\]\] 'api'"):
        load_config(path)


def test_invalid_toml_gives_the_line(repo):
    path = write(repo, GOOD.replace('name = "fks"', 'name = "fks'))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}:2: invalid TOML")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="services.toml: file not found"):
        load_config(tmp_path / "services.toml")


def test_missing_project_and_services(repo):
    with pytest.raises(ConfigError, match=r"missing \[project\] table"):
        load_config(write(repo, "[build]\ncpu_parallelism = 2\n"))
    with pytest.raises(ConfigError, match=r"no \[\[service\]\] defined"):
        load_config(write(repo, GOOD.split("[[service]]")[0]))


def test_disk_thresholds_validated(repo):
    with pytest.raises(ConfigError, match=r"\[disk\]: key 'warn_free': not a size or percentage: 'lots'"):
        load_config(write(repo, GOOD + '\n[disk]\nwarn_free = "lots"\n'))
    with pytest.raises(ConfigError, match="thresholds out of order"):
        load_config(
            write(
                repo, GOOD + '\n[disk]\nwarn_free = "1GiB"\ncleanup_free = "2GiB"\ncritical_free = "1MiB"\n'
            )
        )
    with pytest.raises(ConfigError, match=r"\[disk\]: key 'path': 'missing' does not exist"):
        load_config(write(repo, GOOD + '\n[disk]\npath = "missing"\n'))


def test_bundled_demo_config_is_valid():
    config = load_config(Path(__file__).resolve().parent.parent / "services.toml")
    kinds = {s.name: s.kind for s in config.services}
    assert {n for n, k in kinds.items() if k == "gpu"} == {"training", "transformer"}
    assert {"api", "worker", "data", "web", "ninja-api", "nginx"} <= set(kinds)
