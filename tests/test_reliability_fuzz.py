"""Fuzzing the TU reader with mutations of real files.

Every mutation of a copy of MUTAG (lines deleted, duplicated, swapped or garbled; wrong counts;
huge, negative and non-integer ids; empty or cut files; UTF-16, Latin-1, BOMs, binary junk, CRLF)
must give either a valid data set or our own :class:`~diffpool.data.DataError` whose message
starts with ``path:LINE:`` naming one of the data set's files — never another exception, never a
hang (each example runs under a timer).

``DIFFPOOL_FUZZ_EXAMPLES=N`` runs N random examples instead of the fixed, derandomised default.
"""

from __future__ import annotations

import os
import re
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diffpool.data import DataError, load_tu, read_tu_raw

NAME = "MUTAG"
PARTS = ("A", "graph_indicator", "graph_labels", "node_labels")
EXAMPLES = int(os.environ.get("DIFFPOOL_FUZZ_EXAMPLES", "0")) or 60
PER_EXAMPLE_SECONDS = 30
LOCATION = re.compile(r"^(?P<path>.+?):(?P<line>\d+): \S")


@pytest.fixture(scope="module")
def originals(tu_root) -> dict[str, bytes]:
    return {part: (tu_root / NAME / f"{NAME}_{part}.txt").read_bytes() for part in PARTS}


class Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: float):
    """Raise :class:`Hang` in the main thread if the block runs longer than ``seconds``."""

    def on_alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --------------------------------------------------------------------------- mutations
def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _join(lines: list[bytes]) -> bytes:
    return b"\n".join(lines)


def _pick(lines: list[bytes], where: float) -> int:
    return min(int(where * len(lines)), len(lines) - 1)


ODD_VALUES = [
    b"0",
    b"-1",
    b"-0",
    b"9223372036854775807",
    b"9223372036854775808",
    b"1" + b"0" * 30,
    b"1e3",
    b"1.5",
    b"nan",
    b"inf",
    b"",
    b" ",
    b"\t3",
    b"1,2",
    b"1,,2",
    b"0x10",
    b"\xc3\xa9",
    b"\x00",
    b"1 2",
    b"+3",
    b"3 ",
    b"\xff\xfe",
    b"99999999",
]
ENCODINGS = ["utf-16", "utf-16-le", "utf-32", "utf-8-sig", "latin-1-junk"]

where = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
part = st.sampled_from(PARTS)
mutation = st.one_of(
    st.tuples(st.just("delete"), part, where),
    st.tuples(st.just("duplicate"), part, where),
    st.tuples(st.just("swap"), part, where, where),
    st.tuples(st.just("garble"), part, where, st.binary(max_size=12)),
    st.tuples(st.just("garble_text"), part, where, st.text(max_size=12)),
    st.tuples(st.just("value"), part, where, st.sampled_from(ODD_VALUES)),
    st.tuples(st.just("number"), part, where, st.integers(min_value=-(2**70), max_value=2**70)),
    st.tuples(st.just("truncate"), part, where),
    st.tuples(st.just("empty"), part),
    st.tuples(st.just("delete_file"), part),
    st.tuples(st.just("encode"), part, st.sampled_from(ENCODINGS)),
    st.tuples(st.just("crlf"), part),
    st.tuples(st.just("cr_only"), part),
    st.tuples(st.just("no_final_newline"), part),
    st.tuples(st.just("blank"), part, where),
    st.tuples(st.just("drop_tail"), part, st.integers(min_value=1, max_value=40)),
    st.tuples(
        st.just("append"), part, st.lists(st.sampled_from(ODD_VALUES + [b"1", b"2", b"1, 2"]), max_size=4)
    ),
    st.tuples(st.just("junk"), part, where, st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("attributes"), st.binary(max_size=200)),
)


def apply(files: dict[str, bytes | None], op: tuple) -> None:
    kind, name = op[0], op[1] if len(op) > 1 else None
    if kind == "attributes":  # an extra node_attributes file of random bytes
        files["node_attributes"] = op[1]
        return
    data = files.get(name)
    if data is None:
        return
    lines = _lines(data)
    if kind == "delete":
        del lines[_pick(lines, op[2])]
    elif kind == "duplicate":
        i = _pick(lines, op[2])
        lines.insert(i, lines[i])
    elif kind == "swap":
        i, j = _pick(lines, op[2]), _pick(lines, op[3])
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "garble":
        lines[_pick(lines, op[2])] = op[3]
    elif kind == "garble_text":
        lines[_pick(lines, op[2])] = op[3].encode("utf-8", "surrogatepass")
    elif kind == "value":
        i = _pick(lines, op[2])
        fields = lines[i].split(b",")
        fields[-1] = op[3]
        lines[i] = b",".join(fields)
    elif kind == "number":
        lines[_pick(lines, op[2])] = str(op[3]).encode()
    elif kind == "truncate":
        files[name] = data[: int(op[2] * len(data))]
        return
    elif kind == "empty":
        files[name] = b""
        return
    elif kind == "delete_file":
        files[name] = None
        return
    elif kind == "encode":
        text = data.decode("utf-8", "replace")
        files[name] = (
            (text[:20] + "é\u00ff" + text[20:]).encode("latin-1", "replace")
            if op[2] == "latin-1-junk"
            else text.encode(op[2])
        )
        return
    elif kind == "crlf":
        files[name] = data.replace(b"\n", b"\r\n")
        return
    elif kind == "cr_only":
        files[name] = data.replace(b"\n", b"\r")
        return
    elif kind == "no_final_newline":
        files[name] = data.rstrip(b"\n")
        return
    elif kind == "blank":
        lines.insert(_pick(lines, op[2]), b"")
    elif kind == "drop_tail":
        body = data.rstrip(b"\n").split(b"\n")
        files[name] = b"\n".join(body[: max(len(body) - op[2], 0)]) + b"\n"
        return
    elif kind == "append":
        files[name] = data + b"\n".join(op[2]) + (b"\n" if op[2] else b"")
        return
    elif kind == "junk":
        pos = int(op[2] * len(data))
        files[name] = data[:pos] + op[3] + data[pos:]
        return
    files[name] = _join(lines)


def write(folder: Path, files: dict[str, bytes | None]) -> None:
    folder.mkdir(parents=True)
    for name, data in files.items():
        if data is not None:
            (folder / f"{NAME}_{name}.txt").write_bytes(data)


def check_outcome(folder: Path, cache: Path) -> str:
    """Load the folder; a DataError must start with ``path:LINE:`` naming one of its files."""
    try:
        with time_limit(PER_EXAMPLE_SECONDS):
            raw = read_tu_raw(folder, NAME)
            dataset = load_tu(NAME, folder, cache=cache)
    except DataError as error:
        message = str(error)
        match = LOCATION.match(message)
        assert match, f"DataError without a file:line location: {message!r}"
        path = Path(match["path"])
        assert path.parent == folder and path.name.startswith(f"{NAME}_"), message
        line = int(match["line"])
        if path.is_file():
            assert line <= path.read_bytes().count(b"\n") + 2, f"line {line} is past the end: {message}"
        return "error"
    # a valid data set: consistent with what was read
    assert len(dataset) == raw.num_graphs
    assert sum(int(g.num_nodes) for g in dataset) == raw.num_nodes
    for g in dataset:
        assert g.x.size(0) == g.num_nodes
        if g.edge_index.numel():
            assert int(g.edge_index.max()) < g.num_nodes and int(g.edge_index.min()) >= 0
    return "valid"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("DIFFPOOL_FUZZ_EXAMPLES"),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(ops=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_tu_files_load_or_fail_with_file_and_line(originals, ops):
    files: dict[str, bytes | None] = dict(originals)
    for op in ops:
        apply(files, op)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / NAME
        write(folder, files)
        check_outcome(folder, Path(tmp) / "cache")


# --------------------------------------------------------------------------- fixed cases
CASES = {
    "empty indicator": [("empty", "graph_indicator")],
    "empty edges": [("empty", "A")],
    "utf-16 edges": [("encode", "A", "utf-16")],
    "utf-8 BOM labels": [("encode", "graph_labels", "utf-8-sig")],
    "latin-1 node labels": [("encode", "node_labels", "latin-1-junk")],
    "CRLF everywhere": [("crlf", p) for p in PARTS],
    "CR only": [("cr_only", "graph_indicator")],
    "no final newline": [("no_final_newline", p) for p in PARTS],
    "huge node id": [("value", "A", 0.5, b"9223372036854775808")],
    "huge graph id": [("number", "graph_indicator", 1.0, 10**18)],
    "negative graph label": [("number", "graph_labels", 0.0, -(2**63))],
    "one label too many": [("append", "graph_labels", [b"1"])],
    "one node label too few": [("drop_tail", "node_labels", 1)],
    "binary junk in edges": [("junk", "A", 0.3, b"\x00\xff\xfe\x89PNG\r\n\x1a\n")],
    "NUL line": [("garble", "graph_indicator", 0.5, b"\x00")],
    "float id": [("value", "A", 0.1, b"1.5")],
    "nan attribute": [("attributes", b"nan\n" * 3371)],
    "short attributes": [("attributes", b"1.0\n")],
    "missing graph labels": [("delete_file", "graph_labels")],
    "graph id goes back": [("swap", "graph_indicator", 0.0, 1.0)],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_known_bad_shapes(originals, tmp_path, case):
    files: dict[str, bytes | None] = dict(originals)
    for op in CASES[case]:
        apply(files, op)
    folder = tmp_path / NAME
    write(folder, files)
    check_outcome(folder, tmp_path / "cache")


def test_crlf_and_missing_final_newline_give_the_same_data_set(originals, tmp_path):
    """Line-ending variants of valid files are valid and give the very same graphs."""
    results = []
    for label, ops in (
        ("plain", []),
        ("crlf", [("crlf", p) for p in PARTS]),
        ("bare", [("no_final_newline", p) for p in PARTS]),
    ):
        files: dict[str, bytes | None] = dict(originals)
        for op in ops:
            apply(files, op)
        folder = tmp_path / label / NAME
        write(folder, files)
        assert check_outcome(folder, tmp_path / "cache") == "valid", label
        results.append(load_tu(NAME, folder, cache=tmp_path / "cache"))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert a.x.equal(b.x) and a.edge_index.equal(b.edge_index) and a.y.equal(b.y)


def test_an_unreadable_file_is_a_data_error_naming_it(originals, tmp_path, monkeypatch):
    """Regression: a file that cannot be opened (permissions, I/O error) escaped as a raw
    PermissionError / OSError instead of a DataError naming the file."""
    import builtins

    from diffpool.data import tu

    folder = tmp_path / NAME
    write(folder, dict(originals))
    real_open = builtins.open

    def failing_open(path, *args, **kwargs):
        if str(path).endswith("_graph_labels.txt"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(tu, "open", failing_open, raising=False)
    with pytest.raises(
        DataError,
        match=rf"^{re.escape(str(folder / 'MUTAG_graph_labels.txt'))}:0: cannot be read "
        r"\(Permission denied\)",
    ):
        read_tu_raw(folder, NAME)
