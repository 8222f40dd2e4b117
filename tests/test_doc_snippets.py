"""Every example in the README and the user guide runs, offline, as written.

Each page's fenced blocks run in document order in one fresh folder: ``python`` blocks in one
namespace per page, ``bash`` blocks line by line. ``diffpool`` commands run with tiny settings
(one epoch, two folds, narrow layers) put over the page's own options; commands that CI itself
runs (setup, checks, the site build, the wheel) must be named in ``.ci/run``; SLURM array
commands run their script as one task of the array would. TU sets come from the shared folder
through the download cache (``$DIFFPOOL_DATA``), as a user's downloaded copy would, so nothing
reaches the network. Indented code blocks are refused: every example is fenced, so none escapes.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from diffpool.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [
        REPO_ROOT / "README.md",
        *(REPO_ROOT / "docs").glob("index.md"),
        *(REPO_ROOT / "docs" / "guide").glob("*.md"),
    ]
)
FENCE = re.compile(r"^```(\w*)\s*$")
#: Commands CI runs itself: the word that must appear in .ci/run for each.
CI_COMMANDS = {
    "./scripts/setup": "scripts/setup",
    "./scripts/check": "scripts/check",
    "./scripts/docs": "scripts/docs",
    "./scripts/check_wheel": "scripts/check_wheel",
    "pip": "scripts/check_wheel",
    "python -m pytest": "pytest",
}
#: Tiny settings for training commands: (option, value); None for the value keeps a flag's form.
TINY = {"--epochs": "1", "--hidden": "8", "--mlp-hidden": "8"}
FOLDS = 2


def code_blocks(path: Path) -> list[tuple[str, str, int]]:
    """``(language, text, first line)`` of every fenced block of ``path``."""
    blocks, language, lines, start = [], None, [], 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(line)
        if language is None and match:
            language, lines, start = match.group(1) or "", [], number + 1
        elif language is not None and line.startswith("```"):
            blocks.append((language, "\n".join(lines), start))
            language = None
        elif language is not None:
            lines.append(line)
    assert language is None, f"{path.name}: a fence opened at line {start - 1} is never closed"
    return blocks


def indented_blocks(path: Path) -> list[int]:
    """Lines that open a Markdown indented code block (4 spaces after a blank line, outside fences
    and lists)."""
    found, in_fence, previous = [], False, ""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and line.startswith("    ") and line.strip() and not previous.strip():
            found.append(number)
        previous = line
    return found


def shell_commands(text: str) -> list[str]:
    """The commands of a bash block: continuation lines joined, comments dropped, ``&&`` split."""
    joined = re.sub(r"\\\n\s*", " ", text)
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            commands.append(shlex.join(words[:cut]))
            words = words[cut + 1 :]
    return commands


def tiny(argv: list[str]) -> list[str]:
    """``argv`` of ``diffpool train|cv`` with the tiny settings over its own."""
    if not argv or argv[0] not in ("train", "cv") or argv[1:2] in (["report"], ["select"]):
        return argv
    out, i = [], 0
    while i < len(argv):
        word = argv[i]
        if word in TINY or word in ("--folds", "--fold", "--repeats"):
            i += 2  # the value follows; replaced below
            if word == "--fold":
                out += ["--fold", str(min(int(argv[i - 1]), FOLDS - 1))]
            elif word == "--repeats":
                out += ["--repeats", str(min(int(argv[i - 1]), 2))]
            continue
        out.append(word)
        i += 1
    for option, value in TINY.items():
        out += [option, value]
    if argv[0] == "cv":
        out += ["--folds", str(FOLDS)]
    return out


def run_diffpool(argv: list[str], where: str) -> None:
    if "--device" in argv and argv[argv.index("--device") + 1] == "cuda" and not torch.cuda.is_available():
        return  # shown for GPU machines; the CUDA tests cover it there
    argv = tiny(argv)
    if "--devices" in argv or "--num-nodes" in argv:
        # several processes: Lightning launches them from a real command line
        done = subprocess.run(
            [sys.executable, "-m", "diffpool.cli", *argv], capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{where}: diffpool {shlex.join(argv)}\n{done.stderr[-3000:]}"
        return
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    assert code in (0, None), (
        f"{where}: diffpool {shlex.join(argv)} exited {code}\n{stderr.getvalue()[-3000:]}"
    )


def run_command(command: str, where: str, ci_text: str) -> None:
    words = shlex.split(command)
    words = words[: words.index(">")] if ">" in words else words
    program = words[0]
    if program in ("diffpool", ".venv/bin/diffpool"):
        run_diffpool(words[1:], where)
    elif program == "sbatch":
        array = next(w for w in words if w.startswith("--array="))
        first = next(i for i, w in enumerate(words) if i and not w.startswith("--"))
        script, args = words[first], words[first + 1 :]  # sbatch's options come before the script
        env = {
            **os.environ,
            "SLURM_ARRAY_TASK_ID": array.split("=")[1].split("-")[0],
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        tiny_args = [word for pair in TINY.items() for word in pair]
        done = subprocess.run(
            ["bash", str(REPO_ROOT / script), *args, *tiny_args],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
        )
        assert done.returncode == 0, f"{where}: {command}\n{done.stderr[-3000:]}"
    else:
        key = next((k for k in CI_COMMANDS if command.startswith(k) or program.endswith(k.split()[-1])), None)
        if key is None and program.endswith("python") and words[1:3] == ["-m", "pytest"]:
            key = "python -m pytest"
        assert key is not None, f"{where}: {command!r} is neither a diffpool command nor one CI runs"
        assert CI_COMMANDS[key] in ci_text, f"{where}: {command!r} is shown but .ci/run does not run it"


@pytest.fixture
def user_folder(tmp_path, tu_root, monkeypatch):
    """A fresh working folder whose download cache already holds the shared TU sets, and a
    ``my_graphs/`` folder of new graphs (PROTEINS' files) for the prediction examples."""
    cache = tmp_path / "cache"
    (cache / "raw").mkdir(parents=True)
    for folder in tu_root.iterdir():
        if folder.is_dir():
            (cache / "raw" / folder.name).symlink_to(folder)
    work = tmp_path / "work"
    work.mkdir()
    (work / "my_graphs").symlink_to(tu_root / "PROTEINS")
    monkeypatch.setenv("DIFFPOOL_DATA", str(cache))
    monkeypatch.chdir(work)
    return work


def test_every_example_is_a_fenced_block_with_a_language():
    for page in PAGES:
        assert not indented_blocks(page), f"{page.name}: indented code at lines {indented_blocks(page)}"
        for language, _, line in code_blocks(page):
            assert language in ("python", "bash", "text", "yaml"), f"{page.name}:{line}: fence {language!r}"


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_page_examples_run(page, user_folder):
    ci_text = (REPO_ROOT / ".ci" / "run").read_text()
    namespace: dict = {"__name__": "__doc_example__"}
    ran = 0
    for language, text, line in code_blocks(page):
        where = f"{page.relative_to(REPO_ROOT)}:{line}"
        if language == "python":
            exec(compile(text, where, "exec"), namespace)
            ran += 1
        elif language == "yaml":
            # a file the page's commands read: its first line names it, e.g. "# run.yaml"
            name = text.splitlines()[0].lstrip("# ").strip()
            (user_folder / name).write_text(text)
        elif language == "bash":
            for command in shell_commands(text):
                run_command(command, where, ci_text)
                ran += 1
    if page.name != "index.md":
        assert ran, f"{page.name} shows no example"


def test_tiny_settings_replace_the_pages_own():
    argv = tiny(["cv", "--dataset", "X", "--folds", "10", "--fold", "3", "--epochs", "150", "--hidden", "64"])
    assert argv.count("--epochs") == 1 and argv[argv.index("--epochs") + 1] == "1"
    assert argv[argv.index("--fold") + 1] == "1" and argv[argv.index("--folds") + 1] == "2"
    assert tiny(["cv", "report", "runs/x"]) == ["cv", "report", "runs/x"]
    assert shell_commands("a b \\\n  c  # note\nd && e f") == ["a b c", "d", "e f"]
