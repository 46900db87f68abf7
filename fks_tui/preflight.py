"""Checks that the Docker daemon and buildx answer, with a one-line fix when they do not."""

from __future__ import annotations

import os
import shutil
import subprocess

import docker
import docker.errors
import requests

STACK_HINT = "start one with 'scripts/stack up' or point DOCKER_HOST at a running daemon"


def docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def check_docker() -> str | None:
    """None when the daemon and buildx answer, else one line saying what is wrong and how to fix it."""
    if shutil.which("docker") is None:
        return "the docker CLI is not on PATH: install docker-cli (scripts/stack up does)"
    try:
        client = docker.from_env(timeout=10)
        try:
            client.ping()
        finally:
            client.close()
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return f"cannot reach the Docker daemon at {docker_host()}: {STACK_HINT}"
    try:
        result = subprocess.run(
            ["docker", "buildx", "version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"docker buildx did not answer ({error}): install docker-buildx (scripts/stack up does)"
    if result.returncode != 0:
        return "docker buildx is not installed: install docker-buildx (scripts/stack up does)"
    return None
