"""Every validation error of the TU reader, each on a broken copy of a real file.

Each error must be a DataError (a ValueError) whose message starts ``path:LINE: `` and says what
is wrong; the line numbers are checked, not just the type.
"""

from __future__ import annotations

import pytest

from data_fixtures import copy_tu, data_cache, lines_of, tu, write_lines  # noqa: F401
from diffpool.data import DataError, load_tu, read_tu_raw


@pytest.fixture
def mutag(tu_root, tmp_path):
    return copy_tu(tu_root, "MUTAG", tmp_path)


@pytest.fixture
def enzymes(tu_root, tmp_path):
    return copy_tu(tu_root, "ENZYMES", tmp_path)


def expect(folder, name, path, line, *words):
    """Reading ``folder`` fails with ``path:line: ...`` mentioning ``words``."""
    with pytest.raises(DataError) as caught:
        read_tu_raw(folder, name)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    for word in words:
        assert word in message, message
    assert isinstance(caught.value, ValueError)
    return message


def edit(path, line, new):
    """Replace 1-based ``line`` of ``path`` with ``new`` (None deletes it)."""
    lines = lines_of(path)
    if new is None:
        del lines[line - 1]
    else:
        lines[line - 1] = new
    write_lines(path, lines)


def test_the_untouched_copy_is_valid(mutag):
    raw = read_tu_raw(mutag, "MUTAG")
    assert raw.num_graphs == 188 and raw.num_nodes == 3371 and raw.edges.shape == (7442, 2)


@pytest.mark.parametrize("part", ["A", "graph_indicator", "graph_labels"])
def test_missing_required_file(mutag, part):
    path = mutag / f"MUTAG_{part}.txt"
    path.unlink()
    message = expect(mutag, "MUTAG", path, 0, "required file is missing", "MUTAG_graph_labels.txt")
    assert "found MUTAG_" in message  # lists what is there


def test_missing_folder_through_load_tu_names_the_file(tmp_path, tu_root):
    folder = copy_tu(tu_root, "MUTAG", tmp_path)
    (folder / "MUTAG_A.txt").unlink()
    with pytest.raises(DataError, match="MUTAG_A.txt"):
        load_tu("MUTAG", folder, cache=tmp_path / "cache")


def test_non_integer_edge(mutag):
    path = mutag / "MUTAG_A.txt"
    edit(path, 5, "3, x")
    expect(mutag, "MUTAG", path, 5, "not an integer", "'x'")


def test_float_where_an_integer_belongs(mutag):
    path = mutag / "MUTAG_graph_labels.txt"
    edit(path, 17, "1.5")
    expect(mutag, "MUTAG", path, 17, "not an integer", "'1.5'")


def test_edge_line_with_three_values(mutag):
    path = mutag / "MUTAG_A.txt"
    edit(path, 100, "3, 4, 5")
    expect(mutag, "MUTAG", path, 100, "expected 2 comma-separated values, found 3")


def test_every_edge_line_with_one_value(mutag):
    path = mutag / "MUTAG_A.txt"
    write_lines(path, [line.split(",")[0] for line in lines_of(path)])
    expect(mutag, "MUTAG", path, 1, "expected 2")


def test_indicator_line_with_two_values(mutag):
    path = mutag / "MUTAG_graph_indicator.txt"
    edit(path, 30, "2, 2")
    expect(mutag, "MUTAG", path, 30, "expected 1 comma-separated value, found 2")


def test_blank_line_inside_a_file(mutag):
    path = mutag / "MUTAG_node_labels.txt"
    lines = lines_of(path)
    lines.insert(9, "")
    write_lines(path, lines)
    expect(mutag, "MUTAG", path, 10, "blank line")


def test_trailing_blank_lines_are_fine(mutag):
    path = mutag / "MUTAG_graph_labels.txt"
    path.write_text(path.read_text() + "\n\n")
    assert read_tu_raw(mutag, "MUTAG").num_graphs == 188


@pytest.mark.parametrize("bad_id", ["3372", "0", "-4"])
def test_node_id_out_of_range(mutag, bad_id):
    path = mutag / "MUTAG_A.txt"
    edit(path, 7, f"{bad_id}, 1")
    expect(mutag, "MUTAG", path, 7, "node id out of range", "1..3371")


def test_edge_between_two_graphs(mutag):
    path = mutag / "MUTAG_A.txt"
    edit(path, 3, "1, 3371")  # node 1 is in graph 1, node 3371 in graph 188
    expect(mutag, "MUTAG", path, 3, "joins graph 1 and graph 188")


def test_indicator_skipping_a_graph_id(mutag):
    path = mutag / "MUTAG_graph_indicator.txt"
    lines = lines_of(path)
    first_of_graph_3 = lines.index("3")
    write_lines(path, lines[:first_of_graph_3] + [str(int(v) + 1) for v in lines[first_of_graph_3:]])
    expect(mutag, "MUTAG", path, first_of_graph_3 + 1, "graph id 4 follows 2", "without gaps")


def test_indicator_going_back(mutag):
    path = mutag / "MUTAG_graph_indicator.txt"
    lines = lines_of(path)
    last_of_graph_2 = len(lines) - lines[::-1].index("2")  # 1-based line of graph 2's last node
    edit(path, last_of_graph_2 + 1, "1")  # the first node of graph 3 claims graph 1
    expect(mutag, "MUTAG", path, last_of_graph_2 + 1, "graph id 1 follows 2")


def test_indicator_not_starting_at_one(mutag):
    path = mutag / "MUTAG_graph_indicator.txt"
    write_lines(path, [str(int(v) + 1) for v in lines_of(path)])
    expect(mutag, "MUTAG", path, 1, "must start at 1")


def test_too_few_graph_labels(mutag):
    path = mutag / "MUTAG_graph_labels.txt"
    edit(path, 188, None)
    expect(mutag, "MUTAG", path, 188, "file ends after 187 lines", "188", "one label per graph")


def test_too_many_graph_labels(mutag):
    path = mutag / "MUTAG_graph_labels.txt"
    write_lines(path, lines_of(path) + ["1", "-1"])
    expect(mutag, "MUTAG", path, 189, "190 lines", "exactly 188")


def test_node_labels_count_mismatch(mutag):
    path = mutag / "MUTAG_node_labels.txt"
    write_lines(path, lines_of(path)[:-5])
    expect(mutag, "MUTAG", path, 3367, "file ends after 3366 lines", "3371", "one line per node")


def test_node_attributes_count_mismatch(enzymes):
    path = enzymes / "ENZYMES_node_attributes.txt"
    write_lines(path, lines_of(path) + [lines_of(path)[0]])
    expect(enzymes, "ENZYMES", path, 19581, "19581 lines", "exactly 19580")


def test_node_attributes_row_with_a_missing_value(enzymes):
    path = enzymes / "ENZYMES_node_attributes.txt"
    row = lines_of(path)[41].split(",")
    edit(path, 42, ",".join(row[:-1]))
    expect(enzymes, "ENZYMES", path, 42, "expected 18 comma-separated values, found 17")


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_non_finite_attribute(enzymes, bad):
    path = enzymes / "ENZYMES_node_attributes.txt"
    row = lines_of(path)[1233].split(",")
    row[4] = f" {bad}"
    edit(path, 1234, ",".join(row))
    expect(enzymes, "ENZYMES", path, 1234, "attribute 5 is", "finite")


def test_non_numeric_attribute(enzymes):
    path = enzymes / "ENZYMES_node_attributes.txt"
    row = lines_of(path)[9].split(",")
    row[0] = " abc"
    edit(path, 10, ",".join(row))
    expect(enzymes, "ENZYMES", path, 10, "value 1 is not a number", "'abc'")


@pytest.mark.parametrize("part", ["A", "graph_indicator", "graph_labels", "node_labels"])
def test_empty_file(mutag, part):
    path = mutag / f"MUTAG_{part}.txt"
    path.write_text("")
    expect(mutag, "MUTAG", path, 1, "file is empty")


def test_whitespace_only_file_is_empty(mutag):
    path = mutag / "MUTAG_graph_labels.txt"
    path.write_text("\n  \n")
    expect(mutag, "MUTAG", path, 1, "file is empty")


def test_no_final_newline_keeps_the_last_line(mutag, tmp_path):
    """PyG's own reader drops the last line of such a file; ours must not lose the last graph."""
    for part in ("A", "graph_indicator", "graph_labels", "node_labels"):
        path = mutag / f"MUTAG_{part}.txt"
        path.write_text(path.read_text().rstrip("\n"))
    raw = read_tu_raw(mutag, "MUTAG")
    assert raw.num_graphs == 188 and raw.num_nodes == 3371 and raw.edges.shape[0] == 7442
    assert len(load_tu("MUTAG", mutag, cache=tmp_path / "cache")) == 188


def test_windows_line_endings(mutag, tu, tmp_path):
    for part in ("A", "graph_indicator", "graph_labels", "node_labels"):
        path = mutag / f"MUTAG_{part}.txt"
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    converted = load_tu("MUTAG", mutag, cache=tmp_path / "cache")
    original = tu("MUTAG")
    assert len(converted) == len(original)
    assert converted._data.edge_index.equal(original._data.edge_index)
    assert converted._data.x_hot.equal(original._data.x_hot)
