"""The stored answers of the grader's oracles (autograder/memo.py): a hit answers without
running the oracle, with fresh arrays; anything else (other values, dtype or shape, an argument
it cannot hash, no table) runs the oracle; writing a table keeps other assignments' answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import autograder.assignments as assignments
from autograder import memo
from autograder.spec import assignment_names, get_assignment

# Assignments whose public checks declare that they need no torch: their answers are stored.
STORED = [n for n in assignment_names() if get_assignment(n).public_imports == ()]


@pytest.fixture
def table(tmp_path, monkeypatch):
    """Every memoised function's table is this file (not the file next to its module)."""
    path = tmp_path / "oracles.memo.json"
    monkeypatch.setattr(memo, "table_path", lambda fn: path)
    monkeypatch.setattr(memo, "_TABLES", {})
    return path


def _oracle(calls: list):
    @memo.memoised
    def doubled(x, scale=1.0):
        calls.append(x)
        return np.asarray(x, dtype=np.float64) * 2 * scale, (np.arange(2), None)
    return doubled


def _stored(path, fn, args, kwargs=None) -> None:
    """Recording, as `python -m autograder.memo` does, then written as one assignment's table."""
    with memo.recording() as tables:
        fn(*args, **(kwargs or {}))
    memo._write(path, {"an_assignment": tables[path]})


def test_a_stored_answer_is_returned_without_running_the_oracle(table):
    calls = []
    doubled = _oracle(calls)
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    _stored(table, doubled, (x,), {"scale": 0.5})
    calls.clear()
    out, (ints, nothing) = doubled(x.copy(), scale=0.5)
    assert calls == []
    np.testing.assert_array_equal(out, x)
    assert out.dtype == np.float64 and ints.dtype == np.arange(2).dtype and nothing is None
    out[0, 0] = 99.0  # a check may modify what it gets: the next hit is unchanged
    assert doubled(x, scale=0.5)[0][0, 0] == 1.0 and calls == []


@pytest.mark.parametrize("other", [
    lambda x: (x + 1e-12,), lambda x: (x.astype(np.float32),), lambda x: (x.reshape(4, 1),),
    lambda x: (x.tolist(),), lambda x: (x, 0.25)],
    ids=["value", "dtype", "shape", "list", "argument"])
def test_other_arguments_run_the_oracle(table, other):
    calls = []
    doubled = _oracle(calls)
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    _stored(table, doubled, (x,))
    calls.clear()
    out, _ = doubled(*other(x))
    assert len(calls) == 1
    np.testing.assert_array_equal(out, np.asarray(other(x)[0], dtype=np.float64) * 2
                                  * (other(x)[1:] or (1.0,))[0])


def test_an_argument_it_cannot_hash_runs_the_oracle(table):
    calls = []

    @memo.memoised
    def first(d):
        calls.append(d)
        return np.array([d[1]])

    with memo.recording() as tables:
        first({1: 2.0})  # a dict keyed by numbers: not hashed
    assert tables == {}
    assert first({1: 2.0})[0] == 2.0 and len(calls) == 2


def test_without_a_table_the_oracle_runs(table):
    calls = []
    out, _ = _oracle(calls)(np.ones(3))
    assert len(calls) == 1 and not table.exists()
    np.testing.assert_array_equal(out, 2 * np.ones(3))


def test_a_broken_table_only_costs_time(table):
    table.write_text("{not json", encoding="utf-8")
    calls = []
    out, _ = _oracle(calls)(np.ones(3))
    assert len(calls) == 1
    np.testing.assert_array_equal(out, 2 * np.ones(3))


def test_answers_read_back_bit_for_bit(table):
    x = np.array([0.1, 1 / 3, np.pi * 1e-300, -2.5e308, np.nan, np.inf])
    stored = memo._decode(json.loads(json.dumps(memo._encode((x, [x > 0], 3, None)))))
    assert stored[0].tobytes() == x.tobytes() and stored[1][0].dtype == bool
    assert stored[2:] == (3, None)


def test_writing_keeps_the_other_assignments_answers(table):
    calls = []
    doubled = _oracle(calls)
    memo._write(table, {"other": {"k": 1}})
    with memo.recording() as tables:
        doubled(np.ones(2))
    sections = memo._read(table)
    sections["mine"] = tables[table]
    memo._write(table, sections)
    assert memo._read(table)["other"] == {"k": 1}
    assert set(memo._read(table)) == {"other", "mine"}


def test_the_command_says_what_is_wrong(capsys):
    assert memo.main([]) == 2
    assert "usage" in capsys.readouterr().err
    assert memo.main(["no_such_assignment"]) == 1
    assert "no_such_assignment" in capsys.readouterr().err


def test_assignments_without_public_imports_ship_their_answers():
    """An assignment declaring public_imports=() has a table with its section (the properties
    tests of its chapter, with assert_stored_answers_are_current, compare it with torch)."""
    assert {"05_rnn", "06_attention"} <= set(STORED)
    folder = Path(assignments.__path__[0])
    tables = [memo._read(path) for path in sorted(folder.glob("*" + memo.SUFFIX))]
    for name in STORED:
        assert any(table.get(name) for table in tables), name


def assert_stored_answers_are_current(name: str, oracle) -> None:
    """The shipped table of ``oracle``'s module holds, for every call of a memoised oracle the
    public checks of ``name`` make, what the oracle (torch) answers now."""
    path = memo.table_path(oracle)
    shipped = memo._read(path).get(name, {})
    fresh = memo.collect(name)[path]
    assert set(shipped) == set(fresh), \
        f"{path.name} is stale: run `python -m autograder.memo {name}`"
    for key, answer in fresh.items():
        _same(memo._decode(shipped[key]), memo._decode(answer))


def _same(stored, computed) -> None:
    assert type(stored) is type(computed)
    if isinstance(computed, np.ndarray):
        assert stored.dtype == computed.dtype and stored.shape == computed.shape
        scale = max(1.0, float(np.abs(computed).max(initial=0.0)))
        assert float(np.abs(stored.astype(float) - computed).max(initial=0.0)) <= 1e-13 * scale
    elif isinstance(computed, (tuple, list)):
        assert len(stored) == len(computed)
        for s, c in zip(stored, computed):
            _same(s, c)
    else:
        assert stored == computed
