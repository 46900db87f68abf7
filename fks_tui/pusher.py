"""Pushes built images with the Docker SDK's streamed push, with retries and per-layer progress."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import docker
import docker.errors
import requests

from .events import Event, PushFinished, PushProgress, PushRetry

_DIGEST_RE = re.compile(r"digest: (sha256:[0-9a-f]{64})")
# A push is tried once and then retried this many times.
PUSH_RETRIES = 3
BACKOFF_BASE = 1.0


class PushError(Exception):
    """A push the registry refused or could not take; the message is one line."""


@dataclass
class PushJob:
    service: str
    tags: tuple[str, ...]
    emit: Callable[[Event], None]
    retries: int = PUSH_RETRIES
    backoff: float = BACKOFF_BASE
    cancel_event: threading.Event | None = None

    def run(self) -> PushFinished:
        """Push every tag (blocking; run in a thread). Never raises for registry trouble."""
        started = time.monotonic()
        digest = ""
        attempt = 0
        for tag in self.tags:
            attempt = 0
            while True:
                attempt += 1
                if self._cancelled():
                    return self._done(False, digest, "cancelled", attempt, started)
                try:
                    digest = push_tag(self.service, tag, self.emit, self.cancel_event) or digest
                    break
                except PushError as error:
                    if attempt > self.retries or self._cancelled():
                        return self._done(False, digest, str(error), attempt, started)
                    delay = self.backoff * (2 ** (attempt - 1))
                    self.emit(
                        PushRetry(
                            service=self.service, tag=tag, attempt=attempt, error=str(error), delay=delay
                        )
                    )
                    if self.cancel_event is not None:
                        self.cancel_event.wait(delay)
                    else:
                        time.sleep(delay)
        return self._done(True, digest, "", attempt, started)

    def _cancelled(self) -> bool:
        return self.cancel_event is not None and self.cancel_event.is_set()

    def _done(self, ok: bool, digest: str, error: str, attempts: int, started: float) -> PushFinished:
        return PushFinished(
            service=self.service,
            tags=self.tags,
            ok=ok,
            digest=digest,
            error=error,
            attempts=attempts,
            duration=time.monotonic() - started,
        )


def split_reference(reference: str) -> tuple[str, str]:
    """("127.0.0.1:5000/org/name", "tag") from "127.0.0.1:5000/org/name:tag"."""
    repository, _, tag = reference.rpartition(":")
    if "/" in tag or not repository:
        return reference, "latest"
    return repository, tag


def push_tag(
    service: str, reference: str, emit: Callable[[Event], None], cancel_event: threading.Event | None = None
) -> str:
    """Push one reference, emitting per-layer progress; returns the digest; raises PushError."""
    repository, tag = split_reference(reference)
    try:
        client = docker.from_env(timeout=120)
    except docker.errors.DockerException as error:
        raise PushError(f"cannot reach the Docker daemon: {_first_line(error)}") from None
    digest = ""
    last_status: dict[str, str] = {}
    try:
        stream = client.api.push(repository, tag=tag, stream=True, decode=True)
        for message in stream:
            if cancel_event is not None and cancel_event.is_set():
                raise PushError("cancelled")
            if "error" in message:
                detail = message.get("errorDetail", {}).get("message") or message["error"]
                raise PushError(_first_line(detail))
            status = message.get("status", "")
            found = _DIGEST_RE.search(status)
            if found:
                digest = found.group(1)
            layer = message.get("id", "")
            if not layer or layer == tag:
                continue
            detail = message.get("progressDetail") or {}
            current, total = int(detail.get("current") or 0), int(detail.get("total") or 0)
            # Progress lines arrive many times a second per layer; pass status changes and
            # byte counts, the consumer keeps the latest per layer.
            if last_status.get(layer) != status or current:
                last_status[layer] = status
                emit(
                    PushProgress(
                        service=service,
                        tag=reference,
                        layer=layer,
                        status=status,
                        current=current,
                        total=total,
                    )
                )
    except docker.errors.ImageNotFound:
        raise PushError(f"image {reference} is not in the local image store") from None
    except docker.errors.APIError as error:
        raise PushError(_first_line(error.explanation or str(error))) from None
    except (requests.exceptions.RequestException, docker.errors.DockerException) as error:
        raise PushError(f"cannot reach the Docker daemon: {_first_line(error)}") from None
    finally:
        client.close()
    if not digest:
        raise PushError(f"push of {reference} ended without a digest")
    return digest


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else "unknown error"
