"""Everyday CLI use: help for every command and argument a user types, "did you mean" for
a mistyped command, shell completion that completes what the CLI has, and the JSON verdict
saying whether the verification completed."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import pytest

from slsacheck.cli import COMMANDS, build_parser
from slsacheck.errors import EXIT_INCOMPLETE, EXIT_OK, EXIT_POLICY, EXIT_USAGE
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from tests.support.cli import Cli, cli

__all__ = ["cli"]


def _walk(parser: argparse.ArgumentParser, path: str = "") -> list[tuple[str, argparse.ArgumentParser]]:
    out = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                out += _walk(child, f"{path} {name}".strip())
    return out


def test_every_command_has_a_description_and_every_argument_a_help() -> None:
    missing = []
    for path, parser in _walk(build_parser(all_commands=True)):
        if path and path.count(" ") == 0 and not parser.description:
            missing.append(f"{path}: no description")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction | argparse._VersionAction):
                continue
            if not action.help:
                missing.append(f"{path}: {'/'.join(action.option_strings) or action.dest} has no help")
    assert not missing, missing


@pytest.mark.parametrize(("argv", "says"), [
    (["verfy", "x"], "unknown command 'verfy'; did you mean 'verify'?"),
    (["policy", "lnt", "x"], "unknown command 'lnt'; did you mean 'lint'?"),
    (["inspct"], "did you mean 'inspect'?"),
    (["verify", "--output", "jsn", "x"], "unknown value for --output 'jsn'; did you mean 'json'?"),
    (["qqqq"], "unknown command 'qqqq' (one of: inspect,"),
])
def test_a_mistyped_command_gets_did_you_mean(cli: Cli, capsys: pytest.CaptureFixture[str], argv: list[str],
                                              says: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli(*argv)
    assert exit_info.value.code == EXIT_USAGE
    assert says in capsys.readouterr().err


def _complete(script: str, *words: str) -> list[str]:
    line = " ".join(f"'{w}'" for w in words)
    call = f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _slsacheck"
    bash = f"{script}\n{call}; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    done = subprocess.run(["bash", "-c", bash], capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.split()


def test_bash_completion_completes_commands_subcommands_and_flags(cli: Cli) -> None:
    run = cli("completion", "bash")
    assert run.code == EXIT_OK and "complete -o filenames -F _slsacheck slsacheck" in run.out
    assert _complete(run.out, "slsacheck", "verify-a") == ["verify-attestation"]
    assert {"verify", "verify-attestation", "verify-bundle"} <= set(_complete(run.out, "slsacheck", "ver"))
    assert set(_complete(run.out, "slsacheck", "")) >= {name for name, _, _ in COMMANDS}
    policy = _complete(run.out, "slsacheck", "policy", "")
    assert policy[:5] == ["convert", "explain", "init", "lint", "test"] and "--help" in policy
    assert _complete(run.out, "slsacheck", "policy", "lint", "--out") == ["--output"]
    assert _complete(run.out, "slsacheck", "verify", "--docker-c") == ["--docker-config"]
    assert _complete(run.out, "slsacheck", "download", "")[:2] == ["attestation", "signature"]
    assert _complete(run.out, "slsacheck", "download", "attestation", "--pred") == ["--predicate-type"]
    assert _complete(run.out, "slsacheck", "nonsense", "--out") == []


def test_zsh_completion_loads_the_bash_one_through_bashcompinit(cli: Cli) -> None:
    run = cli("completion", "zsh")
    assert run.code == EXIT_OK
    assert run.out.splitlines()[1] == "autoload -U +X bashcompinit && bashcompinit"
    assert "_slsacheck_words" in run.out


def test_verify_json_says_whether_the_verification_completed(tmp_path: Path, cli: Cli) -> None:
    assert cli("generate-key-pair", "--output-key-prefix", str(tmp_path / "k")).code == 0
    store = LayoutStore(tmp_path / "img", create=True)
    scratch.push(store, scratch.image({"f": b"x"}), tag="v1")
    image = f"oci:{tmp_path / 'img'}:v1"
    unsigned = cli("verify", "--key", str(tmp_path / "k.pub"), "--output", "json", image)
    assert unsigned.code == EXIT_POLICY and unsigned.json()["verification"] == {"complete": True}
    assert cli("sign", "--key", str(tmp_path / "k.key"), image).code == 0
    signed = cli("verify", "--key", str(tmp_path / "k.pub"), "--output", "json", image)
    assert signed.code == EXIT_OK and signed.json()["verification"] == {"complete": True}
    missing = cli("verify", "--key", str(tmp_path / "k.pub"), "--output", "json", image[:-2] + "v9")
    assert missing.code == EXIT_INCOMPLETE
    assert missing.json()["verification"] == {"complete": False} and missing.json()["outcome"] == "error"
