"""`slsacheck generate-key-pair` and `slsacheck public-key` through `slsacheck.cli.main`."""

from __future__ import annotations

import io
import stat
import sys
from pathlib import Path

import pytest

from slsacheck.cli import main
from slsacheck.signing import keys
from tests.support.env import shared_file

VERIFY = "anchors/verify"


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test with no password in the environment and no terminal on stdin."""
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _generate(tmp_path: Path, *extra: str) -> int:
    return main(["generate-key-pair", "--output-key-prefix", str(tmp_path / "team"), *extra])


def test_generate_with_cosign_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "s3cret")
    assert _generate(tmp_path) == 0
    key, pub = tmp_path / "team.key", tmp_path / "team.pub"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes().startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    loaded = keys.load_private_key(key.read_bytes(), password=lambda: b"s3cret")
    assert keys.public_key_pem(loaded) == pub.read_bytes()
    err = capsys.readouterr().err
    assert f"Private key written to {key}" in err
    assert "s3cret" not in err


def test_empty_cosign_password_is_a_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "")
    assert _generate(tmp_path) == 0
    keys.load_private_key((tmp_path / "team.key").read_bytes(), password=lambda: b"")


def test_refuses_to_overwrite_without_force(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "a")
    assert _generate(tmp_path) == 0
    before = (tmp_path / "team.key").read_bytes()
    assert _generate(tmp_path) == 2
    assert "team.key already exists" in capsys.readouterr().err
    assert (tmp_path / "team.key").read_bytes() == before

    (tmp_path / "team.key").chmod(0o644)
    monkeypatch.setenv("COSIGN_PASSWORD", "b")
    assert _generate(tmp_path, "--force") == 0
    after = (tmp_path / "team.key").read_bytes()
    assert after != before
    assert stat.S_IMODE((tmp_path / "team.key").stat().st_mode) == 0o600
    keys.load_private_key(after, password=lambda: b"b")


def test_refuses_when_only_the_pub_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "")
    (tmp_path / "team.pub").write_text("keep me")
    assert _generate(tmp_path) == 2
    assert not (tmp_path / "team.key").exists()
    assert (tmp_path / "team.pub").read_text() == "keep me"


def test_password_file_wins_and_loses_one_newline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "from-env")
    secret = tmp_path / "password"
    secret.write_bytes(b"from-file\n")
    assert _generate(tmp_path, "--password-file", str(secret)) == 0
    keys.load_private_key((tmp_path / "team.key").read_bytes(), password=lambda: b"from-file")


def test_no_password_source_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _generate(tmp_path) == 2
    err = capsys.readouterr().err
    assert "no terminal to ask on" in err and "COSIGN_PASSWORD" in err
    assert not (tmp_path / "team.key").exists()


def test_terminal_prompt_asks_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", FakeTerminal())
    answers = iter(["typed", "typed"])
    prompts: list[str] = []

    def getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("getpass.getpass", getpass)
    assert _generate(tmp_path) == 0
    assert len(prompts) == 2
    keys.load_private_key((tmp_path / "team.key").read_bytes(), password=lambda: b"typed")

    answers = iter(["one", "two"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["generate-key-pair", "--output-key-prefix", str(tmp_path / "other")]) == 2
    assert "passwords do not match" in capsys.readouterr().err
    assert not (tmp_path / "other.key").exists()


def test_public_key_prints_the_pub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    assert _generate(tmp_path) == 0
    capsys.readouterr()
    assert main(["public-key", "--key", str(tmp_path / "team.key")]) == 0
    assert capsys.readouterr().out == (tmp_path / "team.pub").read_text()

    monkeypatch.setenv("TEAM_KEY", (tmp_path / "team.key").read_text())
    assert main(["public-key", "--key", "env://TEAM_KEY", "--outfile", str(tmp_path / "out.pub")]) == 0
    assert (tmp_path / "out.pub").read_bytes() == (tmp_path / "team.pub").read_bytes()

    monkeypatch.setenv("COSIGN_PASSWORD", "wrong")
    assert main(["public-key", "--key", str(tmp_path / "team.key")]) == 2
    assert f"wrong password for {tmp_path / 'team.key'}" in capsys.readouterr().err


def test_public_key_of_policy_controller_key(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    key = shared_file(VERIFY, "sigstore__policy-controller__examples__keys__cosign.key")
    monkeypatch.setenv("COSIGN_PASSWORD", "")
    assert main(["public-key", "--key", str(key)]) == 0
    expected = shared_file(VERIFY, "sigstore__policy-controller__examples__keys__cosign.pub").read_text()
    assert capsys.readouterr().out == expected
    monkeypatch.setenv("COSIGN_PASSWORD", "wrong")
    assert main(["public-key", "--key", str(key)]) == 2
    assert "error: wrong password for" in capsys.readouterr().err


def test_public_key_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["public-key", "--key", str(tmp_path / "absent.key")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["public-key", "--key", "hashivault://release"]) == 2
    assert "hashivault:// keys are not supported by this build" in capsys.readouterr().err
    assert main(["public-key", "--key", "awskms://alias/x"]) == 2  # the key goes after a third slash
    assert "hint: with no endpoint, write three slashes: awskms:///alias/x" in capsys.readouterr().err
