"""`slsacheck inspect` and `copy` through `slsacheck.cli.main`: output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slsacheck.cli import main
from slsacheck.errors import EXIT_INCOMPLETE, EXIT_POLICY, EXIT_USAGE
from slsacheck.models import Platform
from slsacheck.models import mediatypes as mt
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from tests.support.images import cosign_saved_layout


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, scratch.Built]:
    path = tmp_path / "src"
    store = LayoutStore(path, create=True)
    built = scratch.index(
        [
            scratch.image({"f": b"amd64"}, platform=Platform("linux", "amd64")),
            scratch.image({"f": b"arm64"}, platform=Platform("linux", "arm64", "v8")),
        ]
    )
    scratch.push(store, built, tag="v1")
    return path, built


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_index_json(capsys: pytest.CaptureFixture[str], layout: tuple[Path, scratch.Built]) -> None:
    path, built = layout
    code, out, _ = _run(capsys, "inspect", f"oci:{path}:v1", "--output", "json")
    assert code == 0
    info = json.loads(out)
    assert info["digest"] == str(built.digest)
    assert info["mediaType"] == mt.OCI_INDEX and info["size"] == len(built.manifest)
    assert [(p["platform"], p["digest"]) for p in info["platforms"]] == [
        ("linux/amd64", str(built.children[0].digest)),
        ("linux/arm64/v8", str(built.children[1].digest)),
    ]
    assert info["signatures"] == info["attestations"] == info["referrers"] == []


def test_inspect_image_text_with_attached_evidence(
    capsys: pytest.CaptureFixture[str], layout: tuple[Path, scratch.Built]
) -> None:
    path, built = layout
    child = built.children[0]
    store = LayoutStore(path)
    sig = scratch.image({"sig": b"s"})
    scratch.push(store, sig, tag=f"{child.digest.tag_form}.sig")
    ref = scratch.artifact(child.descriptor, "application/example", b"{}", "application/json")
    scratch.push(store, ref)
    code, out, _ = _run(capsys, "inspect", f"oci:{path}@{child.digest}")
    assert code == 0
    assert str(child.digest) in out
    assert f"config:       {child.blobs[0][0].digest}  (linux/amd64)" in out
    assert f"{sig.digest}  {child.digest.tag_form}.sig" in out
    assert f"{ref.digest}  application/example" in out
    assert "attestations: none" in out


def test_inspect_layout_without_tag_names_its_only_image(
    capsys: pytest.CaptureFixture[str], layout: tuple[Path, scratch.Built]
) -> None:
    path, built = layout
    code, out, _ = _run(capsys, "inspect", f"oci:{path}", "--output", "json")
    assert code == 0 and json.loads(out)["digest"] == str(built.digest)


def test_copy_then_copy_again(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, layout: tuple[Path, scratch.Built]
) -> None:
    path, built = layout
    dst = tmp_path / "dst"
    code, out, _ = _run(capsys, "copy", f"oci:{path}:v1", f"oci:{dst}:copied", "--output", "json")
    assert code == 0
    report = json.loads(out)
    assert report["digest"] == str(built.digest)
    assert len(report["manifestsCopied"]) == 3 and len(report["blobsCopied"]) == 4
    assert report["tagsSet"] == ["copied"]
    assert LayoutStore(dst).resolve("copied").digest == built.digest
    code, out, _ = _run(capsys, "copy", f"oci:{path}:v1", f"oci:{dst}:copied")
    assert code == 0
    assert "bytes sent: 0" in out and "copied (already)" in out
    # Without a destination tag the source's tag is kept.
    code, out, _ = _run(capsys, "copy", f"oci:{path}:v1", f"oci:{tmp_path / 'same'}")
    assert code == 0 and LayoutStore(tmp_path / "same").resolve("v1").digest == built.digest


def test_copy_dry_run_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, layout: tuple[Path, scratch.Built]
) -> None:
    path, _ = layout
    code, out, _ = _run(capsys, "copy", "--dry-run", f"oci:{path}:v1", f"oci:{tmp_path / 'dry'}:x")
    assert code == 0 and out.startswith("would copy")
    assert list(LayoutStore(tmp_path / "dry").tags()) == []


def test_exit_codes(capsys: pytest.CaptureFixture[str], tmp_path: Path, layout: tuple[Path, scratch.Built]) -> None:
    path, built = layout
    code, _, err = _run(capsys, "inspect", "Not A Ref")
    assert code == EXIT_USAGE and "invalid image reference" in err
    code, _, err = _run(capsys, "inspect", f"oci:{tmp_path / 'absent'}:v1")
    assert code == EXIT_INCOMPLETE and "is not an OCI image layout" in err
    code, _, err = _run(capsys, "inspect", f"oci:{path}:nope")
    assert code == EXIT_INCOMPLETE and "'nope' not found" in err and "v1" in err
    code, _, err = _run(capsys, "copy", f"oci:{path}:v1", f"oci:{tmp_path / 'd'}@sha256:{'0' * 64}")
    assert code == EXIT_USAGE and "another digest" in err
    code, _, err = _run(capsys, "inspect", "--ca-bundle", str(tmp_path / "no.pem"), "localhost:5000/x:y")
    assert code == EXIT_USAGE and "--ca-bundle" in err
    # Tampered content is a security failure: exit 1, both digests named.
    layer, data = built.children[1].blobs[1]
    (path / "blobs" / "sha256" / layer.digest.hex).write_bytes(bytes(len(data)))
    code, _, err = _run(capsys, "copy", f"oci:{path}:v1", f"oci:{tmp_path / 'bad'}")
    assert code == EXIT_POLICY and "digest mismatch" in err and str(layer.digest) in err


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("inspect", "copy", "demo"):
        assert command in out
    with pytest.raises(SystemExit):
        main(["copy", "--help"])
    out = capsys.readouterr().out
    assert "--allow-http-registry" in out and "--ca-bundle" in out and "--docker-config" in out


def test_inspect_a_cosign_saved_layout_lists_its_attestations(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = cosign_saved_layout(tmp_path)
    code, out, err = _run(capsys, "inspect", f"oci:{path}", "--output", "json")
    assert code == 0, err
    info = json.loads(out)
    assert info["mediaType"] == mt.OCI_INDEX
    assert [a["kind"] for a in info["attestations"]] == [mt.KIND_ATTS]
    assert info["signatures"] == []
    assert {p["platform"] for p in info["platforms"]} >= {"linux/amd64"}


def test_copy_tag_defaults(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, layout: tuple[Path, scratch.Built]
) -> None:
    path, built = layout
    # By digest: the copy is untagged (kept reachable by an untagged index.json entry).
    assert _run(capsys, "copy", f"oci:{path}@{built.digest}", f"oci:{tmp_path / 'a'}")[0] == 0
    assert list(LayoutStore(tmp_path / "a").tags()) == []
    assert LayoutStore(tmp_path / "a").resolve(str(built.digest)).digest == built.digest
    # A bare layout names its only image, and the copy is tagged latest, as a bare name is.
    assert _run(capsys, "copy", f"oci:{path}", f"oci:{tmp_path / 'b'}")[0] == 0
    assert list(LayoutStore(tmp_path / "b").tags()) == ["latest"]
    # Destination pinned to the right digest: fine, untagged.
    assert _run(capsys, "copy", f"oci:{path}:v1", f"oci:{tmp_path / 'c'}@{built.digest}")[0] == 0


def test_registry_flags_become_options(tmp_path: Path) -> None:
    import argparse

    from slsacheck.cli._registry_flags import add_registry_flags, registry_options
    from slsacheck.errors import InputError

    parser = argparse.ArgumentParser()
    add_registry_flags(parser)
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "config.json").write_text("{}")
    args = parser.parse_args(["--ca-bundle", str(ca), "--allow-http-registry", "reg.internal:5000",
                              "--allow-http-registry", "mirror.lan", "--docker-config", str(tmp_path)])
    options = registry_options(args)
    assert options.ca_bundle == str(ca)
    assert options.allow_http == frozenset({"reg.internal:5000", "mirror.lan"})
    assert options.docker_config == str(tmp_path)
    assert registry_options(parser.parse_args([])).allow_http == frozenset()
    for bad in ("http://reg.internal", "reg/path", ""):
        with pytest.raises(InputError, match="not a registry host"):
            registry_options(parser.parse_args(["--allow-http-registry", bad]))
    with pytest.raises(InputError, match="--docker-config"):
        registry_options(parser.parse_args(["--docker-config", str(tmp_path / "none.json")]))
