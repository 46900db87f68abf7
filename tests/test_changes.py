"""Change detection on real git repositories: watch globs, .dockerignore, bases, commit-message triggers."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fks_tui.changes import ChangeError, DockerIgnore, commit_trigger, detect, read_dockerignore_lines
from fks_tui.config import load_config
from tests.conftest import git, init_git, make_demo_repo

API = "examples/fks/src/python/services/api"
PYTHON_SERVICES = {"api", "worker", "data", "web", "ninja-api", "training", "transformer"}


class FakeHistory:
    def __init__(self, sha: dict[str, str] | None = None, status: dict[str, str] | None = None) -> None:
        self.sha = sha or {}
        self.status = status or {}

    def last_success_sha(self, service: str) -> str | None:
        return self.sha.get(service)

    def last_status(self, service: str) -> str | None:
        return self.status.get(service)


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def commit_all(repo: Path, message: str = "change") -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return head(repo)


def built_at_head(repo: Path, config) -> FakeHistory:
    sha = head(repo)
    return FakeHistory({s.name: sha for s in config.services}, {s.name: "built" for s in config.services})


def due(detection) -> dict[str, str]:
    return {name: d.reason for name, d in detection.decisions.items() if d.due}


@pytest.fixture
def demo(tmp_path: Path):
    path = make_demo_repo(tmp_path / "repo", "fks-test-changes")
    return tmp_path / "repo", load_config(path)


# -- .dockerignore semantics -----------------------------------------------------------------------


def test_dockerignore_anchors_patterns_at_the_context_root_unlike_gitignore():
    ignore = DockerIgnore(read_dockerignore_lines("*.md\ndocs/\n"))
    assert ignore.excludes("README.md")
    assert not ignore.excludes("sub/NOTES.md")  # gitignore would exclude this one
    assert ignore.excludes("docs/a.txt") and ignore.excludes("docs/deep/b.txt")
    assert not ignore.excludes("sub/docs/a.txt")
    assert not ignore.excludes("docsy/a.txt")


def test_dockerignore_doublestar_exceptions_comments_and_parent_directories():
    text = "# comment\n  /build/  \n**/*.pyc\nsrc/*\n!src/keep\n*.log\n!important.log\n"
    ignore = DockerIgnore(read_dockerignore_lines(text))
    assert ignore.excludes("build/out.o")
    assert ignore.excludes("a/b/c.pyc") and ignore.excludes("c.pyc")
    assert ignore.excludes("src/a/b.py")  # `src/*` matches the parent directory src/a
    assert not ignore.excludes("src/keep")
    assert not ignore.excludes("src")
    assert ignore.excludes("debug.log") and not ignore.excludes("important.log")
    assert not ignore.excludes("# comment")
    assert read_dockerignore_lines(" # not a comment\n")[0] == "# not a comment"


def test_dockerignore_last_match_wins():
    ignore = DockerIgnore(read_dockerignore_lines("!keep.md\n*.md\n"))
    assert ignore.excludes("keep.md")
    ignore = DockerIgnore(read_dockerignore_lines("*.md\n!keep.md\n"))
    assert not ignore.excludes("keep.md")


@pytest.mark.docker
@pytest.mark.slow
def test_dockerignore_matches_what_the_real_builder_sends(tmp_path: Path, docker_stack):
    context = tmp_path / "ctx"
    files = [
        "README.md",
        "sub/NOTES.md",
        "docs/a.txt",
        "sub/docs/b.txt",
        "src/a/b.py",
        "src/keep",
        "x.pyc",
        "deep/y.pyc",
        "keep.log",
        "other.log",
        "Dockerfile",
    ]
    for name in files:
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(name)
    ignore_text = "# anchored at the root\n*.md\ndocs/\nsrc/*\n!src/keep\n**/*.pyc\n*.log\n!keep.log\n"
    (context / ".dockerignore").write_text(ignore_text)
    (context / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    out = tmp_path / "out"
    subprocess.run(
        [
            "docker",
            "buildx",
            "build",
            "--network",
            "none",
            "--output",
            f"type=local,dest={out}",
            str(context),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    sent = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} - {".dockerignore", "Dockerfile"}
    ignore = DockerIgnore(read_dockerignore_lines(ignore_text))
    predicted = {name for name in files if not ignore.excludes(name)} - {"Dockerfile"}
    assert sent == predicted
    assert "sub/NOTES.md" in sent and "README.md" not in sent


def _app_repo(tmp_path: Path, dockerignore: str, watch: str = "") -> tuple[Path, object]:
    repo = tmp_path / "app-repo"
    for name in (
        "app/Dockerfile",
        "app/main.py",
        "app/README.md",
        "app/sub/NOTES.md",
        "app/docs/x.txt",
        "app/sub/docs/y.txt",
        "other/z.py",
    ):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("1\n")
    (repo / "app/.dockerignore").write_text(dockerignore)
    (repo / "services.toml").write_text(
        '[project]\nname = "p"\nimage = "fks-test-app"\ncontext = "app"\n'
        f'[[service]]\nname = "app"\nkind = "cpu"\n{watch}\n'
    )
    init_git(repo)
    return repo, load_config(repo / "services.toml")


def test_service_without_watch_uses_its_whole_context_minus_dockerignore(tmp_path: Path):
    repo, config = _app_repo(tmp_path, "*.md\ndocs/\n")
    history = built_at_head(repo, config)
    for name, expect in [
        ("app/README.md", False),
        ("app/docs/x.txt", False),
        ("other/z.py", False),
        ("app/sub/NOTES.md", True),
        ("app/sub/docs/y.txt", True),
        ("app/main.py", True),
    ]:
        (repo / name).write_text("changed\n")
        result = detect(config, history=history)
        assert result.decisions["app"].due is expect, name
        git(repo, "checkout", "--", name)


def test_dockerfile_and_its_own_dockerignore_always_count(tmp_path: Path):
    repo, config = _app_repo(tmp_path, "Dockerfile\n.dockerignore\n*.py\n", watch='watch = ["*.py"]')
    history = built_at_head(repo, config)
    (repo / "app/main.py").write_text("excluded by .dockerignore\n")
    assert not detect(config, history=history).decisions["app"].due
    (repo / "app/Dockerfile").write_text("FROM fks/base:busybox\n")
    assert (
        detect(config, history=history).decisions["app"].reason == "changed: Dockerfile"
    )  # main.py stays excluded
    git(repo, "checkout", "--", "app/Dockerfile", "app/main.py")
    (repo / "app/Dockerfile.dockerignore").write_text("docs/\n")  # BuildKit prefers this one
    config = load_config(repo / "services.toml")
    result = detect(config, history=history)
    assert result.decisions["app"].reason == "changed: Dockerfile.dockerignore"


# -- demo repository: watch globs, project globs, Dockerfiles ---------------------------------------


def test_first_build_without_history_and_no_changes_with_it(demo):
    repo, config = demo
    assert due(detect(config)) == {s.name: "first build" for s in config.services}
    sha = head(repo)
    result = detect(config, history=built_at_head(repo, config))
    assert due(result) == {}
    assert {d.reason for d in result.decisions.values()} == {f"no changes since {sha[:7]}"}


def test_committed_change_makes_only_its_service_due(demo):
    repo, config = demo
    history = built_at_head(repo, config)
    (repo / API / "main.py").write_text("print('v2')\n")
    (repo / API / "routes.py").write_text("ROUTES = []\n")
    commit_all(repo)
    assert due(detect(config, history=history)) == {
        "api": "changed: src/python/services/api/main.py (+1 more)"
    }


def test_shared_code_project_watch_and_dockerfiles(demo):
    repo, config = demo
    history = built_at_head(repo, config)
    (repo / "examples/fks/src/python/shared/config.py").write_text("X = 2\n")
    assert set(due(detect(config, history=history))) == PYTHON_SERVICES
    git(repo, "checkout", "--", ".")
    (repo / "examples/fks/src/python/requirements.txt").write_text("requests\n")
    result = due(detect(config, history=history))
    assert set(result) == PYTHON_SERVICES  # nginx has inherit_watch = false
    assert result["api"] == "changed: src/python/requirements.txt"
    git(repo, "checkout", "--", ".")
    with (repo / "examples/fks/deployment/docker/nginx/Dockerfile").open("a") as f:
        f.write("# touched\n")
    assert set(due(detect(config, history=history))) == {"nginx"}
    git(repo, "checkout", "--", ".")
    with (repo / "examples/fks/deployment/docker/Dockerfile").open("a") as f:
        f.write("# touched\n")
    assert set(due(detect(config, history=history))) == PYTHON_SERVICES


def test_dockerignored_file_inside_a_watched_directory_is_not_a_change(demo):
    repo, config = demo
    history = built_at_head(repo, config)
    (repo / API / "README.md").write_text("docs only\n")  # **/*.md in examples/fks/.dockerignore
    (repo / API / "__pycache__").mkdir()
    (repo / API / "__pycache__/main.cpython-311.pyc").write_bytes(b"\0")
    commit_all(repo)
    assert due(detect(config, history=history)) == {}


def test_untracked_uncommitted_deleted_and_renamed_paths_count_but_ignored_ones_do_not(demo):
    repo, config = demo
    history = built_at_head(repo, config)
    (repo / ".gitignore").write_text(".fks/\n*.tmp\n")
    commit_all(repo, "ignore tmp")
    history = built_at_head(repo, config)
    (repo / API / "scratch.tmp").write_text("ignored\n")
    assert due(detect(config, history=history)) == {}
    (repo / API / "new.py").write_text("untracked\n")
    assert due(detect(config, history=history)) == {"api": "changed: src/python/services/api/new.py"}
    (repo / API / "new.py").unlink()
    (repo / "examples/fks/src/python/services/web/main.py").unlink()
    assert set(due(detect(config, history=history))) == {"web"}
    git(repo, "checkout", "--", ".")
    git(repo, "mv", "examples/fks/src/python/services/data/main.py", "examples/fks/src/python/services/w.py")
    commit_all(repo, "move")
    result = detect(config, history=history)
    assert set(due(result)) == {"data"}
    assert result.decisions["data"].paths == ("src/python/services/data/main.py",)


def test_history_failed_and_unknown_commit(demo):
    repo, config = demo
    history = built_at_head(repo, config)
    history.status["api"] = "failed"
    history.sha["web"] = "f" * 40
    assert due(detect(config, history=history)) == {
        "api": "last build failed",
        "web": "last built commit fffffff not found",
    }


def test_forced_disabled_and_kinds(tmp_path: Path):
    path = make_demo_repo(
        tmp_path / "repo", "fks-test-x", services=["api", "worker", "training"], use_git=False
    )
    text = path.read_text().replace('name = "worker"', 'name = "worker"\nenabled = false')
    path.write_text(text)
    init_git(tmp_path / "repo")
    config = load_config(path)
    history = built_at_head(tmp_path / "repo", config)
    result = detect(config, history=history, force=["api"], kinds=("cpu",))
    assert {n: (d.due, d.reason) for n, d in result.decisions.items()} == {
        "api": (True, "forced"),
        "worker": (False, "disabled"),
        "training": (False, "gpu not selected"),
    }
    assert due(detect(config, history=history, force_all=True)) == {"api": "forced", "training": "forced"}


# -- commit-message triggers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "message, expected",
    [
        ("Please FORCE REBUILD everything", "force"),
        ("rebuild force", "force"),
        ("fix: force build", "force"),
        ("build force now", "force"),
        ("[skip build] docs", "skip"),
        ("force build [skip build]", "skip"),
        ("build: forced the issue", None),
        ("skip build", None),
    ],
)
def test_commit_trigger_phrases(message, expected):
    assert commit_trigger(message) == expected


def test_commit_message_forces_or_skips_all(demo):
    repo, config = demo
    history = built_at_head(repo, config)
    commit_all(repo, "chore: force rebuild")
    assert set(due(detect(config, history=history))) == set(config.service_names())
    assert {d.reason for d in detect(config).decisions.values()} == {"forced by commit message"}
    (repo / API / "main.py").write_text("changed\n")
    commit_all(repo, "docs [skip build]")
    result = detect(config, history=history, force=["web"])
    assert due(result) == {"web": "forced"}  # an explicit --force still wins
    assert result.decisions["api"].reason == "skipped by commit message"


# -- explicit base refs and bad input --------------------------------------------------------------


def test_base_is_the_merge_base_like_three_dot_diff(demo):
    repo, config = demo
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / API / "main.py").write_text("feature\n")
    commit_all(repo, "feature work")
    git(repo, "checkout", "-q", "main")
    (repo / "examples/fks/src/python/services/web/main.py").write_text("main moved on\n")
    commit_all(repo, "main work")
    git(repo, "checkout", "-q", "feature")
    result = detect(config, base="main", history=FakeHistory({"web": head(repo)}))
    assert set(due(result)) == {"api"}  # web changed on main only, after the branch point
    assert result.base == git(repo, "merge-base", "main", "HEAD").strip()


def test_base_ref_from_config_and_command_line_override(tmp_path: Path):
    path = make_demo_repo(tmp_path / "repo", "fks-test-x", extra_toml="")
    text = path.read_text().replace('push = "batch"', 'push = "batch"\nbase_ref = "main"')
    path.write_text(text)
    repo = tmp_path / "repo"
    commit_all(repo, "base_ref")
    git(repo, "checkout", "-q", "-b", "topic")
    (repo / API / "main.py").write_text("topic\n")
    commit_all(repo)
    config = load_config(path)
    assert set(due(detect(config))) == {"api"}
    assert due(detect(config, base="HEAD")) == {}


def test_bad_base_refs_are_one_line_errors(demo, tmp_path: Path):
    repo, config = demo
    with pytest.raises(ChangeError, match=r"^--base 'no-such-branch' is not a branch, tag or commit in "):
        detect(config, base="no-such-branch")
    with pytest.raises(ChangeError, match="is not a branch"):
        detect(config, base="--output=/tmp/x")
    path = repo / "services.toml"
    path.write_text(path.read_text().replace('push = "batch"', 'push = "batch"\nbase_ref = "origin/mian"'))
    with pytest.raises(ChangeError, match=r"^services.toml: \[build\] base_ref 'origin/mian' is not"):
        detect(load_config(path))


def test_not_a_git_repository_makes_everything_due_with_a_warning(tmp_path: Path):
    path = make_demo_repo(tmp_path / "plain", "fks-test-x", services=["api", "nginx"], use_git=False)
    result = detect(load_config(path), history=FakeHistory({"api": "a" * 40}))
    assert due(result) == {"api": "not a git repository", "nginx": "not a git repository"}
    assert result.warnings == [f"{tmp_path / 'plain'} is not a git repository: every service is due"]


def test_shallow_clone_without_the_base_says_fetch_deeper(demo, tmp_path: Path):
    repo, _ = demo
    old = head(repo)
    for n in range(3):
        (repo / API / "main.py").write_text(f"v{n}\n")
        commit_all(repo, f"c{n}")
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(clone)], check=True)
    config = load_config(clone / "services.toml")
    with pytest.raises(
        ChangeError, match=r"^--base '[0-9a-f]{40}' is not in this shallow clone; fetch deeper"
    ):
        detect(config, base=old)
    with pytest.raises(ChangeError, match="fetch deeper"):
        detect(config, base="HEAD~2")
    result = detect(config, history=FakeHistory({"api": old}))
    assert result.decisions["api"].due and any("fetch deeper" in w for w in result.warnings)


def test_symlinked_checkout_still_matches(demo, tmp_path: Path):
    repo, _ = demo
    link = tmp_path / "link"
    os.symlink(repo, link)
    config = load_config(link / "services.toml")
    history = built_at_head(repo, config)
    (repo / API / "main.py").write_text("via link\n")
    assert set(due(detect(config, history=history))) == {"api"}
