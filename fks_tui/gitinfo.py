"""What the repository's git checkout says about the commit being built (sha, branch)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from .config import TemplateValues


def git(
    root: Path | str, *args: str, timeout: float = 30, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run git in root with an argv list (input: its stdin); never raises for a non-zero exit."""
    return subprocess.run(
        ["git", "-C", str(root), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def template_values(root: Path) -> TemplateValues:
    """sha, branch and date for tag templates; placeholders outside a git checkout."""
    date = time.strftime("%Y%m%d", time.gmtime())
    try:
        sha = git(root, "rev-parse", "HEAD").stdout.strip()
        branch = git(root, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        sha, branch = "", ""
    if len(sha) != 40:
        sha = "0" * 40
    if not branch or branch == "HEAD":
        branch = "detached"
    return TemplateValues(sha=sha, branch=branch, date=date)
