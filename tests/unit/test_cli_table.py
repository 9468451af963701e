"""The command table that keeps --help light agrees with what each module registers."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from slsacheck.cli import COMMANDS, build_parser, main


def test_table_matches_each_module() -> None:
    registered: dict[str, tuple[str, str | None]] = {}
    for module in dict.fromkeys(module for _, module, _ in COMMANDS):
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"slsacheck.cli.{module}").register(sub)
        for action in sub._choices_actions:
            registered[action.dest] = (module, action.help)
    assert registered == {name: (module, help_text) for name, module, help_text in COMMANDS}


def test_full_and_lazy_parsers_list_the_same_commands() -> None:
    def names(parser: argparse.ArgumentParser) -> list[str]:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return [a.dest for a in sub._choices_actions]

    assert names(build_parser()) == names(build_parser(None, all_commands=False)) == [n for n, _, _ in COMMANDS]


def test_help_imports_no_command_module() -> None:
    code = (
        "import sys\nimport slsacheck.cli as c\ntry:\n    c.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('slsacheck.cli.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_command_runs_after_global_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["-v", "policy", "lint", "--help"])
    assert info.value.code == 0
    assert "usage: slsacheck policy lint" in capsys.readouterr().out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err
