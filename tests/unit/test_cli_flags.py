"""One convention for flags, as cosign spells them: `--output` a format, `--output-file` a file;
the earlier spellings still parse (hidden from --help for one release); `-v` and
`--docker-config` are accepted before and after the command."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from slsacheck.cli import _command_in, build_parser, main
from slsacheck.cli.audit_commands import _formats_and_file
from slsacheck.errors import InputError


def _parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def _help(*command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize(("command", "old", "new", "dest", "value"), [
    (("provenance", "generate"), ("--output", "-o"), "--output-file", "output_file", Path("stmt.json")),
    (("vuln-predicate", "--trivy", "r.json"), ("--output", "-o"), "--output-file", "output_file", Path("p.json")),
    (("verify", "--key", "k.pub", "img"), ("--report",), "--output-file", "report", "verdict.json"),
    (("provenance", "generate"), ("--format",), "--provenance-format", "provenance_format", "slsa-v0.2"),
])
def test_earlier_spellings_parse_as_the_new_flag_and_are_hidden(
    command: tuple[str, ...], old: tuple[str, ...], new: str, dest: str, value: object, *,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = str(value)
    assert getattr(_parse(*command, new, text), dest) == value
    for spelling in old:
        assert getattr(_parse(*command, spelling, text), dest) == value, spelling
    shown = _help(*command[:2] if command[0] == "provenance" else command[:1], capsys=capsys)
    # Option strings as --help lists them: in the usage brackets and at the start of option lines.
    listed = set(re.findall(r"(?:^\s+|\[|, )(--?[A-Za-z][\w-]*)", shown, flags=re.M))
    assert new in listed
    for spelling in old:
        assert spelling not in listed, f"{spelling} still in --help"


def test_verify_output_stays_the_stdout_format() -> None:
    args = _parse("verify", "--key", "k.pub", "--output", "json", "--output-file", "v.json", "img")
    assert (args.output, args.report) == ("json", "v.json")
    with pytest.raises(SystemExit):
        _parse("verify", "--key", "k.pub", "--output", "v.json", "img")  # a file is not a format


def _audit(*argv: str) -> tuple[list[str], str | None]:
    return _formats_and_file(_parse("audit", *argv))


def test_audit_output_is_a_format_and_output_file_the_place() -> None:
    assert _audit() == (["text"], None)
    assert _audit("--output", "html", "-o", "json", "--output-file", "reports/") == (["html", "json"], "reports/")
    # The earlier spellings: --format FORMAT and --output PATH.
    assert _audit("--format", "sarif", "--output", "audit.sarif") == (["sarif"], "audit.sarif")
    assert _audit("--format", "json", "--output", "junit", "--output", "-") == (["json", "junit"], "-")
    with pytest.raises(InputError, match="given 2 times"):
        _audit("--output", "a.json", "--output-file", "b.json")
    with pytest.raises(SystemExit):
        _audit("--format", "pdf")


def test_verbose_counts_before_and_after_the_command() -> None:
    args = _parse("-v", "policy", "lint", "-v", "p.yaml")
    assert args.verbose + args.verbose_after == 2
    args = _parse("verify", "-vv", "--key", "k.pub", "img")
    assert args.verbose == 0 and args.verbose_after == 2
    assert not hasattr(_parse("verify", "--key", "k.pub", "img"), "verbose_after")


def test_the_command_is_found_after_a_global_docker_config() -> None:
    assert _command_in(["--docker-config", "/etc/docker", "-v", "inspect", "x"]) == "inspect"
    assert _command_in(["--docker-config=/etc/docker", "inspect"]) == "inspect"
    assert _command_in(["-v"]) is None


@pytest.mark.parametrize("before", [True, False])
def test_docker_config_is_honoured_before_or_after_the_command(
    before: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nowhere" / "config.json")
    flag = ["--docker-config", missing]
    argv = [*flag, "inspect", "registry.invalid/acme/app:1"] if before else ["inspect", *flag,
                                                                            "registry.invalid/acme/app:1"]
    assert main(argv) == 2
    assert f"--docker-config {missing}: no such file" in capsys.readouterr().err


def test_docker_config_after_the_command_wins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    present = tmp_path / "config.json"
    present.write_text("{}")
    missing = str(tmp_path / "nowhere.json")
    assert main(["--docker-config", str(present), "inspect", "--docker-config", missing,
                 "registry.invalid/acme/app:1"]) == 2
    assert missing in capsys.readouterr().err



@pytest.mark.parametrize("command", [(), ("verify",), ("audit",)])
def test_help_and_usage_wrap_at_the_terminal_width(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parser is built without asking the terminal its width; printed help and a usage
    error still wrap at it."""
    lines: dict[int, tuple[int, int]] = {}
    for columns in (50, 150):
        monkeypatch.setenv("COLUMNS", str(columns))
        text = _help(*command, capsys=capsys)
        with pytest.raises(SystemExit):
            build_parser().parse_args([*command, "--no-such-flag"])
        usage = capsys.readouterr().err.split("error:")[0]
        lines[columns] = (len(text.splitlines()), len(usage.splitlines()))
    assert lines[50][0] > lines[150][0] and lines[50][1] > lines[150][1]
