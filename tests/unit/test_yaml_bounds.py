"""Hostile YAML and JSON inputs (alias bombs, deep nesting, oversize) are refused with one line.

Every YAML input goes through `slsacheck._yaml`; these tests feed each entry point
(policy lint and load, run files for `provenance generate`, statements for `provenance
validate`) the documents an attacker would write, and check for the refusal, exit 2 and
no traceback. The bomb is run in a child process with a generous timeout: a regression
would run for minutes (eight levels of nine aliases are 43 million nodes), which the
timeout turns into a failure instead of a hung suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from slsacheck import _yaml
from slsacheck.admission.reload import PolicyHolder
from slsacheck.policy.load import check_file, load_policies
from slsacheck.policy.problems import PolicyLoadError
from slsacheck.provenance.findings import RunError
from slsacheck.provenance.runs import load_runs
from slsacheck.provenance.validate import validate_file
from tests.support.cli import Cli, cli  # noqa: F401 - fixture
from tests.support.env import ROOT
from tests.support.policy_evidence import key_policy, public_pem

HANG_GUARD = 120  # seconds; only catches a hang, never measures speed


def alias_bomb(levels: int = 8, fan: int = 9, *, header: str = "") -> str:
    lines = [header.rstrip("\n")] if header else []
    lines += ["apiVersion: slsacheck.dev/v1alpha1", "kind: ImagePolicy", "metadata:", "  name: bomb",
              "  annotations:", '    a0: &a0 "lol"', "spec:"]
    for i in range(1, levels + 1):
        lines.append(f"  l{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * fan) + "]")
    return "\n".join(lines) + "\n"


def _run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "slsacheck", *argv], capture_output=True, text=True,
                          timeout=HANG_GUARD, env=env, check=False)


def test_policy_alias_bomb_is_refused_by_lint(tmp_path: Path) -> None:
    text = alias_bomb()
    assert len(text.encode()) < 700
    (tmp_path / "bomb.yaml").write_text(text)
    run = _run_cli("policy", "lint", str(tmp_path / "bomb.yaml"))
    assert run.returncode == 2, run.stderr
    assert "refused: aliases expand the document" in run.stderr
    assert "Traceback" not in run.stderr


def test_policy_alias_bomb_is_refused_by_the_loader(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(alias_bomb(levels=9))
    with pytest.raises(PolicyLoadError, match="refused: aliases expand") as info:
        load_policies([tmp_path / "bomb.yaml"])
    assert info.value.exit_code == 2


def test_small_alias_use_still_loads(tmp_path: Path) -> None:
    # Anchors that expand a little (a shared authority list) are ordinary YAML.
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "release.pub").write_bytes(public_pem())
    (tmp_path / "p.yaml").write_text(
        "apiVersion: slsacheck.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\n"
        "spec:\n  images: {include: &inc ['registry.example.com/**']}\n"
        "  authorities: [{name: k, key: {file: keys/release.pub}}]\n"
        "  signatures: {authorities: &names [k]}\n"
        "  attestations: [{name: a, predicateType: slsaprovenance1, authorities: *names}]\n"
    )
    policies, problems = check_file(tmp_path / "p.yaml")
    assert not problems and policies[0].signatures is not None


@pytest.mark.parametrize("kind", ["flow", "block"])
def test_deep_yaml_nesting_is_refused_without_recursion(tmp_path: Path, kind: str) -> None:
    depth = 50_000
    text = "[" * depth + "]" * depth if kind == "flow" else "".join(f"{'  ' * i}- \n" for i in range(300))
    (tmp_path / "deep.yaml").write_text(text)
    _policies, problems = check_file(tmp_path / "deep.yaml")
    assert len(problems) == 1 and "refused: nested deeper than" in problems[0].message


def test_too_many_aliases_are_refused() -> None:
    text = "a: &a x\nb: [" + ",".join(["*a"] * (_yaml.MAX_ALIASES + 1)) + "]\n"
    with pytest.raises(_yaml.TooComplex, match="more than 1000 aliases"):
        _yaml.load_all(text, _yaml.Limits(max_bytes=1 << 20))


def test_oversized_policy_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text("# " + "x" * (1 << 20) + "\n")
    _policies, problems = check_file(tmp_path / "big.yaml")
    assert len(problems) == 1 and "refused: the document is" in problems[0].message


def test_run_file_alias_bomb_is_refused(tmp_path: Path, cli: Cli) -> None:  # noqa: F811
    (tmp_path / "run.yaml").write_text(alias_bomb(levels=9).replace("ImagePolicy", "PipelineRun"))
    with pytest.raises(RunError, match="refused: aliases expand"):
        load_runs(tmp_path / "run.yaml")
    run = cli("provenance", "generate", "--run", str(tmp_path / "run.yaml"))
    assert run.code == 2 and "refused: aliases expand" in run.err and "Traceback" not in run.err


def test_run_file_deep_json_is_refused(tmp_path: Path, cli: Cli) -> None:  # noqa: F811
    (tmp_path / "run.json").write_text('{"kind": "TaskRun", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    run = cli("provenance", "generate", "--run", str(tmp_path / "run.json"))
    assert run.code == 2 and "refused: JSON nested 100001 levels deep" in run.err


def test_statement_bomb_and_deep_json_are_refused_by_validate(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(alias_bomb(levels=9))
    with pytest.raises(RunError, match="refused: aliases expand"):
        validate_file(tmp_path / "s.yaml")
    (tmp_path / "s.json").write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(RunError, match="refused: JSON nested 5000 levels"):
        validate_file(tmp_path / "s.json")


def test_json_nesting_skips_strings() -> None:
    assert _yaml.json_nesting('{"a": "[[[[\\"{{{", "b": [[1]]}') == 3
    assert _yaml.json_nesting("[]") == 1 and _yaml.json_nesting('"x"') == 0


def test_timestamps_stay_text() -> None:
    (value,) = _yaml.load_all("until: 2027-02-30\nat: 2026-01-01T00:00:00Z\nt: !!timestamp 2026-01-01\n",
                              _yaml.Limits(max_bytes=1000))
    assert value == {"until": "2027-02-30", "at": "2026-01-01T00:00:00Z", "t": "2026-01-01"}


def test_webhook_reload_refuses_a_bomb_and_keeps_the_previous_set(tmp_path: Path) -> None:
    (tmp_path / "release.pub").write_bytes(public_pem())
    path = tmp_path / "p.yaml"
    path.write_text(key_policy("p", ["registry.example.com/**"]))
    holder = PolicyHolder([path])
    before = holder.current.digest
    path.write_text(alias_bomb(levels=9))
    assert holder.check() is False
    assert holder.current.digest == before
    assert holder.last_error is not None and "refused: aliases expand" in holder.last_error
