"""The in-step result directory is untrusted: nothing but a regular result file is read.

Each negative case is what an earlier step of the same Task could plant in the directory
to get a secret of the attesting step (its key password in its environment, a mounted
Secret) published as a byproduct of the signed provenance, or to hang or flood it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from slsacheck.cli import main
from slsacheck.provenance.findings import RunError
from slsacheck.provenance.instep import read_result_dir
from slsacheck.provenance.resultdir import MAX_FILES, MAX_RESULT_BYTES, read_results

DIGEST = "sha256:" + "a" * 64


@pytest.fixture
def results(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "IMAGE_URL").write_text("registry.example.com/team/app")
    (folder / "IMAGE_DIGEST").write_text(DIGEST)
    return folder


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "cosign.password"
    path.write_text("hunter2-secret")
    path.chmod(0o600)
    return path


def test_regular_result_files_are_read(results: Path) -> None:
    (results / "img-ARTIFACT_OUTPUTS").write_text(json.dumps({"uri": "x", "digest": DIGEST}))
    assert read_result_dir(results) == [
        ("IMAGE_DIGEST", DIGEST),
        ("IMAGE_URL", "registry.example.com/team/app"),
        ("img-ARTIFACT_OUTPUTS", {"uri": "x", "digest": DIGEST}),
    ]


def _refused(folder: Path, name: str, what: str) -> None:
    with pytest.raises(RunError) as caught:
        read_results(folder)
    message = caught.value.diagnostics()
    assert str(folder / name) in message, message
    assert what in message, message
    assert "hunter2" not in message and "COSIGN_PASSWORD" not in message


def test_a_symlink_to_a_private_file_is_refused(results: Path, secret: Path) -> None:
    (results / "CHAINS-GIT_URL").symlink_to(secret)
    _refused(results, "CHAINS-GIT_URL", "a symbolic link")


def test_a_symlink_to_the_process_environment_is_refused(
    results: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "hunter2-secret")
    (results / "leak").symlink_to("/proc/self/environ")
    _refused(results, "leak", "a symbolic link")


def test_a_dangling_or_relative_symlink_is_refused(results: Path) -> None:
    (results / "a").symlink_to("../../etc/hostname")
    _refused(results, "a", "a symbolic link")


def test_a_fifo_is_refused_without_blocking(results: Path) -> None:
    os.mkfifo(results / "pipe")  # nobody ever writes: an open without O_NONBLOCK would hang
    _refused(results, "pipe", "a FIFO")


def test_a_directory_is_refused(results: Path) -> None:
    (results / "nested").mkdir()
    (results / "nested" / "IMAGE_URL").write_text("x")
    _refused(results, "nested", "a directory")


def test_a_hard_link_is_refused(results: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("not a result")
    os.link(outside, results / "byproduct")
    _refused(results, "byproduct", "a hard link")


def test_an_oversized_file_is_refused(results: Path) -> None:
    (results / "IMAGES").write_bytes(b"x" * (MAX_RESULT_BYTES + 1))
    _refused(results, "IMAGES", "too large to be a Tekton result")


def test_too_much_in_all_is_refused(results: Path) -> None:
    for i in range(5):
        (results / f"part{i}").write_bytes(b"x" * MAX_RESULT_BYTES)
    with pytest.raises(RunError, match="add up to more than"):
        read_results(results)


def test_too_many_files_are_refused(results: Path) -> None:
    for i in range(MAX_FILES):
        (results / f"r{i}").write_text("x")
    with pytest.raises(RunError, match=f"expected: at most {MAX_FILES} result files"):
        raise_diagnostics(results)


def raise_diagnostics(folder: Path) -> None:
    try:
        read_results(folder)
    except RunError as exc:
        raise RunError(exc.diagnostics()) from exc


@pytest.mark.parametrize("name", [".hidden", "bad name", "trailing-", "-lead", "ümlaut", "a\nb"])
def test_a_name_tekton_would_not_give_a_result_is_refused(results: Path, name: str) -> None:
    (results / name).write_text("x")
    _refused(results, name, "not named as a Tekton result")


def test_a_file_that_is_not_utf8_is_refused(results: Path) -> None:
    (results / "IMAGE_URL").write_bytes(b"\xff\xfe")
    _refused(results, "IMAGE_URL", "not UTF-8")


def test_a_missing_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="cannot read the result directory"):
        read_results(tmp_path / "absent")


def test_the_cli_refuses_and_publishes_nothing(
    results: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "hunter2-secret")
    (results / "environ").symlink_to("/proc/self/environ")
    code = main(["provenance", "generate", "--strict", "--result-dir", str(results)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert "environ is a symbolic link" in err
    assert "hunter2" not in err
    # Without --strict as well: refusing the file is not a warning one can waive.
    assert main(["provenance", "generate", "--result-dir", str(results)]) == 2
    assert "hunter2" not in "".join(capsys.readouterr())
