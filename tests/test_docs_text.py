"""The product's text states how the software is: no issue or work-session numbers, numbered
hot spots, commit hashes or paths of a machine in the README, ``docs/``, docstrings or comments.
(The history lives in git and ``CHANGELOG.md``, which this test leaves alone.)"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "an issue number": re.compile(r"\b[Ii]ssues?\s*#?\d+|(?<![\w/&])#\d{1,5}\b"),
    "a work session or period": re.compile(
        r"\b[Ss]essions?\s+\d+|\bwork(?:ing)?\s+periods?\b|\bperiods?\s+\d+"
    ),
    "a numbered hot spot": re.compile(r"\b[Hh]ot[ -]?spots?\s*#?\d+"),
    "a commit hash": re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}(?:-dirty)?\b"),
    "a path of a machine": re.compile(r"(?<![\w.])/(?:work|home|Users|root|tmp)/|\b[A-Z]:\\\\"),
}


def documents() -> list[Path]:
    docs = [p for p in (REPO_ROOT / "docs").rglob("*") if p.suffix in (".md", ".txt", ".yml", ".yaml")]
    return [REPO_ROOT / "README.md", *(REPO_ROOT / "benchmarks").glob("*.md"), *sorted(docs)]


def python_files() -> list[Path]:
    return sorted(
        p for folder in ("src", "benchmarks", "scripts", "tests") for p in (REPO_ROOT / folder).rglob("*.py")
    )


def shell_scripts() -> list[Path]:
    scripts = [p for p in (REPO_ROOT / "scripts").iterdir() if p.is_file() and p.suffix in ("", ".sh")]
    return [*scripts, REPO_ROOT / ".ci" / "run"]


def comments_and_docstrings(path: Path) -> list[tuple[int, str]]:
    """``(line, text)`` of every comment and every string that stands alone as a statement."""
    found, previous = [], tokenize.NEWLINE
    for token in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
        if token.type == tokenize.COMMENT:
            found.append((token.start[0], token.string))
        elif token.type == tokenize.STRING and previous in (
            tokenize.NEWLINE,
            tokenize.NL,
            tokenize.INDENT,
            tokenize.DEDENT,
        ):
            found.append((token.start[0], token.string))
        if token.type not in (tokenize.COMMENT, tokenize.NL):
            previous = token.type
    return found


def shell_comments(path: Path) -> list[tuple[int, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(n, line[line.index("#") :]) for n, line in enumerate(lines, 1) if line.lstrip().startswith("#")]


def offences(chunks: list[tuple[int, str]], where: Path) -> list[str]:
    found = []
    for first_line, text in chunks:
        for offset, line in enumerate(text.splitlines()):
            for what, pattern in FORBIDDEN.items():
                match = pattern.search(line)
                if match:
                    found.append(
                        f"{where.relative_to(REPO_ROOT)}:{first_line + offset}: {what}: {match.group(0)!r}"
                    )
    return found


def test_documents_state_how_the_software_is():
    found = []
    for path in documents():
        lines = path.read_text(encoding="utf-8").splitlines()
        found += offences(list(enumerate(lines, 1)), path)
    assert not found, "\n".join(found)


def test_docstrings_and_comments_state_how_the_software_is():
    found = []
    for path in python_files():
        found += offences(comments_and_docstrings(path), path)
    for path in shell_scripts():
        found += offences(shell_comments(path), path)
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    "text",
    [
        "Targets (issue 6)",
        "as in session 12",
        "hot spot 3 removed",
        "diffpool 0.1.0 (7b6f178)",
        "data in /work/shared/datasets",
        "the fix for #10148",
    ],
)
def test_each_pattern_catches_what_it_is_for(text):
    assert offences([(1, text)], REPO_ROOT / "README.md")


@pytest.mark.parametrize(
    "text",
    [
        "a test session fixture",
        "float64 and 1e-5",
        "the 25 % clusters",
        "docs/perf/epoch.jsonl",
        "color #1f77b4",
    ],
)
def test_ordinary_text_passes(text):
    assert not offences([(1, text)], REPO_ROOT / "README.md")
