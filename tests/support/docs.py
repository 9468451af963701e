"""The command lines the documentation shows, read at test time, and kubectl's file handling.

`shell_commands(doc)` returns every command of the ```sh blocks of a Markdown file, in
order: continuation lines (`\\` at the end) joined, comment-only lines dropped, each with
its line number. Tests run them (or, for commands that need a cluster, check what they
name), so the documentation cannot drift from what works.

`kubectl_from_files(argv, cwd, dest)` does on disk what `kubectl create configmap|secret
generic NAME --from-file=... --from-literal=...` puts in the object, and what a pod then
sees where the object is mounted: one flat directory, one file per key. `--from-file=DIR`
takes the regular files directly in DIR (not subdirectories) under their base names;
`--from-file=FILE` takes FILE under its base name; `--from-file=KEY=FILE` under KEY. Two
sources for the same key are an error, as kubectl makes them.
"""

from __future__ import annotations

import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^\s*```\s*(\w*)\s*$")
SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "console"})


@dataclass(frozen=True)
class DocCommand:
    """One command line of a document, as a user would paste it."""

    doc: Path
    line: int  # 1-based line where the command starts
    text: str  # continuation lines joined with single spaces

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text, comments=True)

    def where(self) -> str:
        return f"{self.doc.name}:{self.line}: {self.text}"


def shell_commands(doc: Path) -> list[DocCommand]:
    """Every command of the shell blocks of `doc`, in order."""
    commands: list[DocCommand] = []
    in_fence = in_block = False
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1):
        fence = _FENCE.match(raw)
        if fence:
            if in_block and pending:
                raise ValueError(f"{doc}:{start}: a continued command runs into the end of its block")
            in_fence = not in_fence
            in_block = in_fence and fence.group(1) in SHELL_LANGUAGES
            continue
        if not in_block:
            continue
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if not pending:
            start = number
        continued = line.endswith("\\")
        pending.append(line[:-1].strip() if continued else line)
        if not continued:
            commands.append(DocCommand(doc, start, " ".join(pending)))
            pending = []
    return commands


def kubectl_from_files(argv: list[str], cwd: Path, dest: Path) -> dict[str, Path]:
    """Write the keys `kubectl create configmap|secret generic ...` would store into flat `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    def put(key: str, data: bytes) -> None:
        if key in written:
            raise ValueError(f"{shlex.join(argv)}: key {key!r} given twice (kubectl refuses this)")
        written[key] = dest / key
        written[key].write_bytes(data)

    for arg in argv:
        if arg.startswith("--from-file="):
            value = arg.removeprefix("--from-file=")
            key, sep, path = value.partition("=")
            source = cwd / (path if sep else value)
            if source.is_dir():
                for entry in sorted(source.iterdir()):
                    if entry.is_file():
                        put(entry.name, entry.read_bytes())
            else:
                put(key if sep else source.name, source.read_bytes())
        elif arg.startswith("--from-literal="):
            key, _, value = arg.removeprefix("--from-literal=").partition("=")
            put(key, value.encode())
    return written


def copy_tree(src: Path, dst: Path, replacements: dict[str, str]) -> None:
    """Copy `src` to `dst`, with `replacements` made in every text file (placeholders the tests fill)."""
    shutil.copytree(src, dst)
    for path in dst.rglob("*"):
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        new = text
        for old, value in replacements.items():
            new = new.replace(old, value)
        if new != text:
            path.write_text(new, encoding="utf-8")
