"""Fuzzing the leaderboard's validator: any input is accepted or rejected with a message, nothing else.

Random mutations of a valid result (deleted, added and retyped fields, NaN/inf, huge numbers,
unicode including lone surrogates, deep nesting, long strings) and random byte edits of its JSON
must either pass validation or raise :class:`ValidationError` with a message — never another
exception — and a build after a rejected file must leave the board exactly as it was.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_leaderboard_support import (
    KNOWN,
    RELEASE,
    dump,
    make_result,
    write_entry,
)

from degzoo.errors import ValidationError
from degzoo.leaderboard import build_board, layout_path, load_entry
from degzoo.leaderboard.render import HTML_NAME, MARKDOWN_NAME

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)

_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)  # includes surrogates
_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, -1.0, 0.5, 1e308, -1e308, 5e-324, 2.0**63, 1e16]),
    _text,
    st.sampled_from(["ok", "failed", "metric", "control", "dynamics", "x" * 20_000, "<script>", "../..",
                     "https://example.org", "javascript:alert(1)", "", " ", "\x00", "\u202e"]),
)  # fmt: skip
_json = st.recursive(
    _leaf,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_text, children, max_size=3),
    max_leaves=8,
)


def _paths(doc: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


def _free_form(path: tuple) -> bool:
    return len(path) >= 2 and (
        path[0] in ("cost", "settings")
        or path[:2] == ("metric", "params")
        or (path[0] == "suites" and len(path) >= 4 and path[2] == "details")
        or path[:2] in (("submission", "name"), ("submission", "authors"))
    )


def _get(doc: Any, path: tuple) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def _mutate(doc: dict, data: st.DataObject) -> dict:
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 4), label="n_mutations")):
        paths = list(_paths(doc))[1:]
        if data.draw(st.booleans(), label="free-form area?"):  # where many changes stay valid
            paths = [p for p in paths if _free_form(p)] or paths
        path = data.draw(st.sampled_from(paths), label="path")
        parent, key = _get(doc, path[:-1]), path[-1]
        action = data.draw(
            st.sampled_from(["delete", "replace", "add", "deep", "nudge", "swap"]), label="action"
        )
        if action == "delete":
            del parent[key]
        elif action == "replace":
            parent[key] = data.draw(_json, label="value")
        elif action == "add":
            target = parent[key] if isinstance(parent[key], dict) else parent
            if isinstance(target, dict):
                target[data.draw(_text, label="new key")] = data.draw(_json, label="new value")
            else:
                target.append(data.draw(_json, label="new item"))
        elif action == "deep":
            value: Any = parent[key]
            for _ in range(data.draw(st.integers(5, 60), label="depth")):
                value = [value] if data.draw(st.booleans(), label="list?") else {"k": value}
            parent[key] = value
        elif (
            action == "nudge" and isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool)
        ):
            factor = data.draw(st.sampled_from([-1.0, 1.0001, 1e6, math.inf, math.nan, 0.0]), label="factor")
            parent[key] = parent[key] * factor
        elif action == "swap":
            parent[key] = data.draw(
                st.sampled_from([str(parent[key]), [parent[key]], {"v": 1}, True, None]), label="retyped"
            )
    return doc


@pytest.fixture(scope="module")
def board() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="degzoo-fuzz-board-"))
    write_entry(root, make_result("Base one", value=0.8))
    write_entry(root, make_result("Base two", value=0.4))
    build_board(root, known=KNOWN, parquet=False, n_boot=100)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _check(data_bytes: bytes, board: Path) -> None:
    """Validate; on rejection a build must fail cleanly and leave the board as it was."""
    fallback = board / "results" / "metric-dynamics" / RELEASE / "fuzz.json"
    try:
        entry = load_entry(fallback, known=KNOWN, data=data_bytes)
    except ValidationError as exc:
        assert str(exc).strip(), "a rejection must say why"
        accepted = False
        target = fallback
    else:
        accepted = True
        target = board / layout_path(entry.doc)
    outputs = {p: p.read_bytes() for p in (board / MARKDOWN_NAME, board / HTML_NAME)}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data_bytes)
    try:
        try:
            build_board(board, known=KNOWN, parquet=False, n_boot=50)
        except ValidationError as exc:
            assert str(exc).strip()
            assert {p: p.read_bytes() for p in outputs} == outputs, "a rejected build changed the board"
        else:
            assert accepted, "the build accepted a file the validator rejected"
    finally:
        target.unlink()
        for p, data in outputs.items():
            p.write_bytes(data)


@FUZZ
@given(data=st.data())
def test_mutated_results_are_accepted_or_rejected_with_a_message(board: Path, data: st.DataObject) -> None:
    doc = _mutate(make_result("Fuzzed entry", value=0.6), data)
    text = json.dumps(doc, allow_nan=True, ensure_ascii=data.draw(st.booleans(), label="ascii"))
    _check(text.encode("utf-8", "surrogatepass"), board)


@FUZZ
@given(data=st.data())
def test_byte_edits_are_accepted_or_rejected_with_a_message(board: Path, data: st.DataObject) -> None:
    raw = bytearray(dump(make_result("Byte fuzz", value=0.55)))
    for _ in range(data.draw(st.integers(1, 6), label="n_edits")):
        pos = data.draw(st.integers(0, len(raw) - 1), label="pos")
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]), label="op")
        if op == "flip":
            raw[pos] = data.draw(st.integers(0, 255), label="byte")
        elif op == "insert":
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=8), label="bytes")
        elif op == "delete":
            del raw[pos]
        else:
            del raw[pos:]
        if not raw:
            raw = bytearray(b" ")
    _check(bytes(raw), board)


def test_huge_file_and_huge_numbers(board: Path) -> None:
    doc = make_result("Huge")
    doc["suites"]["trend"]["details"]["pad"] = ["y" * 9_000] * 120
    _check(dump(doc), board)
    doc = make_result("Huge numbers")
    doc["suites"]["trend"]["scores"]["evidence_share"]["n"] = 10**40
    doc["cost"]["seconds_total"] = 1e308
    _check(dump(doc), board)
    _check(b"[" * 200_000 + b"]" * 200_000, board)
