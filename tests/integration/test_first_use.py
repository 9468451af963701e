"""From the demo to the user's own image in a real registry, as the demo's last lines tell
them to go: every printed command runs as printed (the registry's host put in), and the
image it signs passes the policy it wrote, while an unsigned one fails."""

from __future__ import annotations

import contextlib
import io
import shlex
from pathlib import Path

import pytest

from slsacheck.cli import main
from slsacheck.errors import EXIT_INCOMPLETE, EXIT_OK, EXIT_POLICY
from tests.support.cli import Cli, cli, registry_flags
from tests.support.registry import RunningRegistry, push_scratch

__all__ = ["cli"]

pytestmark = pytest.mark.integration

EXAMPLE = "registry.example.com"


def _demo_tail(root: Path) -> list[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["demo", "--dir", str(root)]) == 0
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("now with your own image"))
    return [line.strip() for line in lines[start + 1:] if line.startswith("  ")]


def test_the_demo_ends_with_a_path_to_my_own_image_that_works(
    tmp_path: Path, cli: Cli, registry_http: RunningRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = _demo_tail(tmp_path / "demo")
    assert len(commands) >= 4, commands
    assert EXAMPLE in " ".join(commands) and "oci:" not in " ".join(commands)  # a registry, not a layout
    push_scratch(registry_http, "team/app", "1.0", "mine")
    push_scratch(registry_http, "team/app", "unsigned", "not signed")
    work = tmp_path / "mine"
    work.mkdir()
    monkeypatch.chdir(work)
    for text in commands:
        argv = shlex.split(text.replace(EXAMPLE, registry_http.host))
        # The first word is how this machine runs slsacheck (a path when it is not on PATH).
        assert Path(argv[0]).name == "slsacheck", text
        run = cli(*argv[1:])
        assert run.code == EXIT_OK, f"{text}\n{run.out}{run.err}"
    assert "PASS" in run.out  # the last step verifies the image the steps signed
    unsigned = cli("verify", "--policy", "policy.yaml", f"{registry_http.host}/team/app:unsigned")
    assert unsigned.code == EXIT_POLICY and "signatures.threshold" in unsigned.out


def test_a_missing_tag_in_a_registry_does_not_hint_at_inspect(cli: Cli, registry_http: RunningRegistry) -> None:
    push_scratch(registry_http, "team/tags", "v1", "tags")
    run = cli("inspect", *registry_flags(registry_http), f"{registry_http.host}/team/tags:v2")
    assert run.code == EXIT_INCOMPLETE
    assert "`slsacheck inspect`" not in run.err and f"skopeo list-tags docker://{registry_http.host}/team/tags" \
        in run.err
