"""Parsing of real `buildx --progress=rawjson` output recorded from buildx 0.13 into tests/data/."""

from __future__ import annotations

from pathlib import Path

import pytest

from fks_tui.rawjson import RawJsonDecoder, StepTracker

DATA = Path(__file__).parent / "data"


def parse(name: str, chunk: int = 700):
    data = (DATA / name).read_bytes()
    decoder, tracker, updates, lines = RawJsonDecoder(), StepTracker(), [], []
    for start in range(0, len(data), chunk):
        for item in decoder.feed(data[start : start + chunk]):
            tracker.feed(item, updates, lines)
    for item in decoder.close():
        tracker.feed(item, updates, lines)
    tracker.flush(lines)
    return tracker, updates, lines


@pytest.mark.parametrize("chunk", [1, 7, 700, 1_000_000])
def test_chunking_does_not_change_the_result(chunk):
    tracker, updates, lines = parse("rawjson-demo-api.json", chunk)
    reference = parse("rawjson-demo-api.json")
    assert [(u.kind, u.name) for u in updates] == [(u.kind, u.name) for u in reference[1]]
    assert lines == reference[2]
    assert tracker.steps_total == reference[0].steps_total


def test_successful_build_steps_and_output():
    tracker, updates, lines = parse("rawjson-success.json")
    names = [v.name for v in tracker.vertices.values() if not v.internal]
    assert any(n.startswith("[base 2/2] RUN") for n in names)
    assert tracker.steps_total == 4 and tracker.steps_done == 4
    assert tracker.failed_vertex() is None
    # Base64 log data decoded into lines, tagged with the step number like --progress=plain.
    run = next(v for v in tracker.vertices.values() if "echo hello" in v.name)
    assert list(run.tail) == ["hello", "world"]
    assert f"#{run.number} hello" in lines and f"#{run.number} world" in lines
    assert {u.kind for u in updates} == {"started", "finished"}


def test_cached_rebuild_counts_cached_steps():
    tracker, updates, lines = parse("rawjson-cached.json")
    assert tracker.cached_steps == 2
    assert sum(u.kind == "cached" for u in updates) >= 2
    assert any(line.endswith("CACHED") for line in lines)


def test_failed_build_names_the_failing_step_and_its_output():
    tracker, updates, lines = parse("rawjson-failure.json")
    failed = tracker.failed_vertex()
    assert failed is not None
    assert failed.name.startswith('[3/3] RUN --network=none echo "about to fail"')
    assert "exit code: 3" in failed.error
    assert list(failed.tail) == ["about to fail", "oops"]  # stdout and stderr of that step only
    assert [u.kind for u in updates].count("failed") == 1
    # The plain-text summary buildx prints after the JSON objects is kept as text lines.
    assert lines[-1].startswith("ERROR: failed to solve:")
    assert any(line.startswith("Dockerfile.bad:3") for line in tracker.text_tail)
    assert tracker.steps_done == 2 and tracker.steps_total == 3


def test_demo_build_has_every_dockerfile_step():
    tracker, _, _ = parse("rawjson-demo-api.json")
    names = [v.name for v in tracker.vertices.values() if not v.internal]
    assert any("FROM docker.io/fks/base:busybox" in n for n in names)
    assert any(n.startswith("[final") for n in names)
    assert tracker.steps_done == tracker.steps_total == 10


def test_compact_one_line_objects_and_partial_log_lines():
    decoder, tracker, updates, lines = RawJsonDecoder(), StepTracker(), [], []
    stream = (
        b'{"vertexes":[{"digest":"sha256:a","name":"[1/1] RUN make","started":"2026-01-01T00:00:00Z"}]}\n'
        b'{"logs":[{"vertex":"sha256:a","stream":1,"data":"cGFydA=="}]}\n'  # "part", no newline yet
        b'{"logs":[{"vertex":"sha256:a","stream":1,"data":"aWFsCm5leHQK"}]}\n'  # "ial\nnext\n"
        b'{"vertexes":[{"digest":"sha256:a","name":"[1/1] RUN make","started":"2026-01-01T00:00:00Z",'
        b'"completed":"2026-01-01T00:00:02.5Z"}]}\n'
        b"plain text line\n"
    )
    for item in decoder.feed(stream):
        tracker.feed(item, updates, lines)
    assert lines == ["#1 [1/1] RUN make", "#1 partial", "#1 next", "#1 DONE 2.5s", "plain text line"]
    assert updates[-1].kind == "finished" and updates[-1].duration == pytest.approx(2.5)


def test_garbage_is_text_not_a_crash():
    decoder, tracker, updates, lines = RawJsonDecoder(), StepTracker(), [], []
    for item in decoder.feed(b'{ not json\n}\n{"logs": [{"vertex": "x", "data": "!!!"}]}\n'):
        tracker.feed(item, updates, lines)
    for item in decoder.close():
        tracker.feed(item, updates, lines)
    assert "{ not json" in lines
