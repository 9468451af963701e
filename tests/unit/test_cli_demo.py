"""`slsacheck demo` through `main()`: every step's outcome, read back from what it wrote
(layouts with their `.sig`/`.att` tags and referrers, provenance, policies, verdicts), checked
again with the CLI's own verifiers; and a demo whose expected outcome does not happen fails.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from slsacheck.attach import cosign_tags as ct
from slsacheck.cli import demo, demo_inputs, main
from slsacheck.errors import EXIT_POLICY, EXIT_USAGE
from slsacheck.models import mediatypes as mt
from slsacheck.oci.layout import LayoutStore


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _verdict(root: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / "verdicts" / f"{name}.json").read_text())
    return data


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One demo run shared by the tests that read what it left behind."""
    root = tmp_path_factory.mktemp("demo") / "run"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["demo", "--dir", str(root)])
    assert code == 0, out.getvalue() + err.getvalue()
    return root, out.getvalue()


def test_every_step_runs_in_order(finished: tuple[Path, str]) -> None:
    _root, out = finished
    titles = re.findall(r"^\[(\d+)/(\d+)\] (.*)$", out, re.MULTILINE)
    assert [t for _, _, t in titles] == [step.title for step in demo.STEPS]
    assert {total for _, total, _ in titles} == {str(len(demo.STEPS))}
    assert "done: every step turned out as expected" in out


def test_the_source_layout_holds_the_index_and_its_evidence(finished: tuple[Path, str]) -> None:
    root, _out = finished
    store = LayoutStore(root / "source")
    index = store.fetch_manifest(demo.TAG)
    assert index.media_type == mt.OCI_INDEX and len(index.children) == 2
    signed = [index.digest, *(child.digest for child in index.children)]
    tags = set(store.tags())
    assert {ct.signature_tag(d) for d in signed} <= tags  # recursive: the index and both platforms
    assert ct.attestation_tag(index.digest) in tags
    for child in index.children:
        assert ct.attestation_tag(child.digest) not in tags  # the provenance is about the index
    att = store.fetch_manifest(ct.attestation_tag(index.digest))
    assert [layer.annotations[mt.ANN_PREDICATE_TYPE] for layer in att.layers] == ["https://slsa.dev/provenance/v1"]
    envelope = json.loads(store.fetch_blob(att.layers[0]))
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["subject"] == [{"name": f"oci:{root / 'source'}", "digest": {"sha256": index.digest.hex}}]
    # A signature bundle for each signed manifest, and the attestation's bundle on the index.
    assert len(store.referrers(index.digest)) == 2
    for child in index.children:
        assert len(store.referrers(child.digest)) == 1


def test_the_provenance_names_the_image_and_the_commit(finished: tuple[Path, str]) -> None:
    root, _out = finished
    digest = LayoutStore(root / "source").resolve(demo.TAG).digest
    statement = json.loads((root / "provenance.json").read_text())
    assert statement["subject"] == [{"name": demo_inputs.IMAGE_NAME, "digest": {"sha256": digest.hex}}]
    predicate = statement["predicate"]
    assert predicate["runDetails"]["builder"]["id"] == demo_inputs.BUILDER_ID
    git = [d for d in predicate["buildDefinition"]["resolvedDependencies"] if d["uri"].startswith("git+")]
    assert git == [{"name": "inputs/result", "uri": f"git+{demo_inputs.GIT_URL}.git",
                    "digest": {"sha1": demo_inputs.GIT_COMMIT}}]
    assert [t["name"] for t in predicate["buildDefinition"]["externalParameters"]["runSpec"]["pipelineSpec"]["tasks"]
            ] == list(demo_inputs.TASKS)


def test_the_copy_holds_the_same_image_and_evidence(finished: tuple[Path, str]) -> None:
    root, _out = finished
    source, copy = LayoutStore(root / "source"), LayoutStore(root / "copy")
    digest = source.resolve(demo.TAG).digest
    assert copy.resolve(demo.TAG).digest == digest
    assert {t for t in source.tags() if t.startswith("sha256-")} == {t for t in copy.tags() if t.startswith("sha256-")}
    for tag in (ct.attestation_tag(digest), ct.signature_tag(digest)):
        assert copy.fetch_manifest(tag).digest == source.fetch_manifest(tag).digest
    assert {d.digest for d in copy.referrers(digest)} == {d.digest for d in source.referrers(digest)}


def test_the_verdicts(finished: tuple[Path, str]) -> None:
    root, out = finished
    digest = str(LayoutStore(root / "source").resolve(demo.TAG).digest)
    for name in ("source", "copy"):
        verdict = _verdict(root, name)
        assert verdict["outcome"] == "pass" and verdict["digest"] == digest
        ids = {c["id"] for c in verdict["checks"] if c["outcome"] == "pass"}
        assert {"signatures.threshold", "attestations.provenance.present", "provenance.builderIds",
                "provenance.source.requireCommit", "provenance.tasks.required"} <= ids
    other = _verdict(root, "other-builder")
    assert other["outcome"] == "fail"
    failed = [c for c in other["checks"] if c["outcome"] == "fail"]
    assert [c["id"] for c in failed] == ["provenance.builderIds"]
    assert demo_inputs.OTHER_BUILDER_ID in failed[0]["expected"] and failed[0]["hint"]
    assert "failed check: provenance.builderIds" in out and f"hint: {failed[0]['hint']}" in out
    assert "nothing re-sent" in out


def test_the_cli_agrees(capsys: pytest.CaptureFixture[str], finished: tuple[Path, str]) -> None:
    root, _out = finished
    copy = f"oci:{root / 'copy'}:{demo.TAG}"
    pub = str(root / "keys" / "cosign.pub")
    code, out, _ = _run(capsys, "verify-attestation", "--key", pub, "--type", "slsaprovenance1", copy)
    assert code == 0, out
    code, out, _ = _run(capsys, "verify", "--policy", str(root / "policy.yaml"), copy)
    assert code == 0, out
    code, out, _ = _run(capsys, "verify", "--policy", str(root / "policy-other-builder.yaml"), copy)
    assert code == EXIT_POLICY and "provenance.builderIds" in out
    code, out, _ = _run(capsys, "policy", "lint", str(root / "policy.yaml"))
    assert code == 0, out


def test_a_non_empty_directory_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    code, _out, err = _run(capsys, "demo", "--dir", str(tmp_path))
    assert code == EXIT_USAGE and "not an empty directory" in err
    assert list(tmp_path.iterdir()) == [tmp_path / "something"]


def test_an_outcome_that_does_not_happen_fails_the_demo(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # If the "other" builder is the real one, the verdict that must fail passes: the demo says so.
    monkeypatch.setattr(demo_inputs, "OTHER_BUILDER_ID", demo_inputs.BUILDER_ID)
    code, out, err = _run(capsys, "demo", "--dir", str(tmp_path / "a"))
    assert code == EXIT_POLICY
    assert f"[{len(demo.STEPS)}/{len(demo.STEPS)}]" in out and "done:" not in out
    assert "should fail on the builder alone" in err and "verdict pass" in err


def test_a_branch_for_a_commit_stops_the_demo_at_provenance(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(demo_inputs, "GIT_COMMIT", "main")
    code, out, err = _run(capsys, "demo", "--dir", str(tmp_path / "b"))
    assert code == EXIT_POLICY and "provenance without warnings" in err and "[git.commit]" in err
    assert "[6/" not in out  # nothing attested after the provenance step failed
    source = LayoutStore(tmp_path / "b" / "source")
    assert ct.attestation_tag(source.resolve(demo.TAG).digest) not in set(source.tags())
