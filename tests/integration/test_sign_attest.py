"""sign / attest / verify / verify-attestation through the CLI, on the real registry
(TLS + htpasswd auth) and on an OCI layout: round trips, both evidence places at once,
--recursive, adversarial evidence (each rejected with its reason in the output), the
slsa-verifier `cosign save` layout verified keyless offline, and keyless signing
against the loopback mock Sigstore.
"""

from __future__ import annotations

import base64
import json
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from slsacheck.attach import cosign_tags as ct
from slsacheck.models import Descriptor, Digest
from slsacheck.models import mediatypes as mt
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from slsacheck.oci.store import Store
from slsacheck.signing import keys as signing_keys
from slsacheck.signing.keys import generate_key_pair
from tests.support.cli import Run, cli, registry_flags
from tests.support.env import shared_file
from tests.support.keys import write_key_pairs
from tests.support.registry import RunningRegistry, push_scratch
from tests.support.sigstore_mock import MockSigstore, mock_sigstore

__all__ = ["cli", "mock_sigstore"]  # the fixtures, imported for pytest

pytestmark = pytest.mark.integration

SLSA1 = "https://slsa.dev/provenance/v1"
VULN = "https://cosign.sigstore.dev/attestation/vuln/v1"


@dataclass
class Target:
    """One image to sign: its reference text, store, digest, and the CLI flags to reach it."""

    text: str
    store: Store
    digest: Digest
    flags: list[str]
    make: Callable[[str], tuple[str, Digest]]  # another image in the same place: (text, digest)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_key_pairs(tmp_path_factory.mktemp("keys"), "k1", "k2", "untrusted")


def _registry_target(reg: RunningRegistry, repo: str) -> Target:
    def make(seed: str) -> tuple[str, Digest]:
        return f"{reg.host}/{repo}:{seed}", push_scratch(reg, repo, seed, seed).digest

    text, digest = make("v1")
    return Target(text, reg.store(repo), digest, registry_flags(reg), make)


def _layout_target(path: Path) -> Target:
    store = LayoutStore(path, create=True)

    def make(seed: str) -> tuple[str, Digest]:
        built = scratch.image({"hello": seed.encode()})
        scratch.push(store, built, tag=seed)
        return f"oci:{path}:{seed}", built.digest

    text, digest = make("v1")
    return Target(text, store, digest, [], make)


@pytest.fixture(params=["registry", "layout"])
def target(request: pytest.FixtureRequest, tmp_path: Path, repo_name: str) -> Target:
    if request.param == "registry":
        return _registry_target(request.getfixturevalue("registry_auth"), repo_name)
    return _layout_target(tmp_path / "layout")


def _verify(cli: Callable[..., Run], t: Target, *args: str, image: str | None = None) -> Run:
    return cli("verify", image or t.text, *args, *t.flags)


# -- round trips ---------------------------------------------------------------------------


def test_sign_twice_second_key_attest_two_types_and_verify(
    cli: Callable[..., Run], target: Target, keys: dict[str, Path], tmp_path: Path
) -> None:
    t = target
    first = cli("sign", "--key", str(keys["k1"]), "--format", "legacy", t.text, *t.flags)
    assert first.code == 0, first.err
    assert f"resolved to {t.digest}" in first.err
    assert cli("sign", "--key", str(keys["k1"]), "--format", "legacy", t.text, *t.flags).code == 0
    assert cli("sign", "--key", str(keys["k2"]), "--format", "legacy", t.text, *t.flags).code == 0
    sig = t.store.fetch_manifest(ct.signature_tag(t.digest))
    assert len(sig.layers) == 3  # ECDSA signatures differ each time: every signing is a new layer

    pred = tmp_path / "pred.json"
    pred.write_text('{"buildDefinition": {"buildType": "https://tekton.dev/chains/v2/slsa"}}')
    assert cli("attest", "--key", str(keys["k1"]), "--type", "slsaprovenance1", "--predicate", str(pred),
               t.text, *t.flags).code == 0
    pred.write_text('{"scanner": {"result": {}}}')
    assert cli("attest", "--key", str(keys["k1"]), "--type", "vuln", "--predicate", str(pred),
               t.text, *t.flags).code == 0
    att = t.store.fetch_manifest(ct.attestation_tag(t.digest))
    assert [x.annotations[mt.ANN_PREDICATE_TYPE] for x in att.layers] == [SLSA1, VULN]

    ok1 = _verify(cli, t, "--key", str(keys["k1.pub"]), "--output", "json")
    assert ok1.code == 0 and ok1.json()["digest"] == str(t.digest)
    sigs = ok1.json()["evidence"]["signatures"]
    assert sigs["found"] == 3 and len(sigs["verified"]) == 2 and len(sigs["rejected"]) == 1
    assert _verify(cli, t, "--key", str(keys["k2.pub"])).code == 0

    bad = _verify(cli, t, "--key", str(keys["untrusted.pub"]))
    assert bad.code == 1
    assert "3 found, 0 verified" in bad.out and bad.out.count("not one of the keys given with --key") >= 3

    for alias in ("slsaprovenance1", "vuln", SLSA1):
        run = cli("verify-attestation", "--key", str(keys["k1.pub"]), "--type", alias, t.text, *t.flags)
        assert run.code == 0, run.out
    missing = cli("verify-attestation", "--key", str(keys["k1.pub"]), "--type", "spdx", t.text, *t.flags)
    assert missing.code == 1 and "verified types:" in missing.out
    wrong = cli("verify-attestation", "--key", str(keys["k2.pub"]), "--type", "vuln", t.text, *t.flags)
    assert wrong.code == 1 and "not one of the keys given with --key" in wrong.out


def test_both_places_are_searched_at_once(cli: Callable[..., Run], target: Target, keys: dict[str, Path]) -> None:
    t = target
    assert cli("sign", "--key", str(keys["k1"]), "--format", "legacy", t.text, *t.flags).code == 0
    assert cli("sign", "--key", str(keys["k2"]), "--format", "bundle", t.text, *t.flags).code == 0
    # k1 signed only the .sig tag, k2 only the bundle referrer: both must be found.
    for key in ("k1.pub", "k2.pub"):
        run = _verify(cli, t, "--key", str(keys[key]), "--output", "json")
        assert run.code == 0, run.out
        sources = [v["source"] for v in run.json()["evidence"]["signatures"]["verified"]]
        assert len(sources) == 1
    doc = _verify(cli, t, "--key", str(keys["k1.pub"]), "--output", "json").json()["evidence"]["signatures"]
    assert [v["source"].endswith(".sig layer 0") for v in doc["verified"]] == [True]
    assert ["referrer" in r["source"] for r in doc["rejected"]] == [True]


def test_attest_both_formats_verify_from_each_place(
    cli: Callable[..., Run], target: Target, keys: dict[str, Path], tmp_path: Path
) -> None:
    t = target
    pred = tmp_path / "p.json"
    pred.write_text("{}")
    assert cli("attest", "--key", str(keys["k1"]), "--type", "custom", "--predicate", str(pred),
               t.text, *t.flags).code == 0
    run = cli("verify-attestation", "--key", str(keys["k1.pub"]), "--type", "custom", "--output", "json",
              t.text, *t.flags)
    assert run.code == 0
    verified = run.json()["evidence"]["attestations"]["verified"]
    assert len(verified) == 2 and sum("referrer" in v["source"] for v in verified) == 1


def test_recursive_signs_an_index_and_every_child(
    cli: Callable[..., Run], registry_auth: RunningRegistry, repo_name: str, keys: dict[str, Path]
) -> None:
    store = registry_auth.store(repo_name)
    built = scratch.index([scratch.image({"a": b"amd64"}), scratch.image({"a": b"arm64"})])
    scratch.push(store, built, tag="multi")
    flags = registry_flags(registry_auth)
    text = f"{registry_auth.host}/{repo_name}:multi"
    child = f"{registry_auth.host}/{repo_name}@{built.children[0].digest}"
    assert cli("sign", "--key", str(keys["k1"]), text, *flags).code == 0
    assert cli("verify", "--key", str(keys["k1.pub"]), child, *flags).code == 1  # not recursive: child unsigned
    run = cli("sign", "--key", str(keys["k1"]), "--recursive", text, *flags)
    assert run.code == 0 and run.out.count("signed sha256:") == 3
    for c in built.children:
        ref = f"{registry_auth.host}/{repo_name}@{c.digest}"
        assert cli("verify", "--key", str(keys["k1.pub"]), ref, *flags).code == 0


def test_annotations_are_signed_into_the_payload(
    cli: Callable[..., Run], target: Target, keys: dict[str, Path]
) -> None:
    t = target
    assert cli("sign", "--key", str(keys["k1"]), "-a", "commit=abc", "-a", "team=x", t.text, *t.flags).code == 0
    layer = t.store.fetch_manifest(ct.signature_tag(t.digest)).layers[0]
    payload = json.loads(t.store.fetch_blob(layer))
    assert payload["optional"] == {"commit": "abc", "team": "x"}
    assert payload["critical"]["image"]["docker-manifest-digest"] == str(t.digest)
    bad = cli("sign", "--key", str(keys["k1"]), "-a", "novalue", t.text, *t.flags)
    assert bad.code == 2 and "KEY=VALUE" in bad.err


# -- adversarial ----------------------------------------------------------------------------


def _rewrite_tag(store: Store, tag: str, layers: list[tuple[bytes, Descriptor]]) -> None:
    """Replace the manifest at `tag` with exactly these (blob, descriptor) layers."""
    for data, desc in layers:
        store.push_blob(desc, data)
    merged = ct.merge_layers(None, [d for _, d in layers])
    store.push_blob(Descriptor.of(merged.config, mt.OCI_CONFIG), merged.config)
    store.push_manifest(merged.manifest, mt.OCI_MANIFEST, tag=tag)


def _layers(store: Store, tag: str) -> list[tuple[bytes, Descriptor]]:
    manifest = store.fetch_manifest(tag)
    return [(store.fetch_blob(d), d) for d in manifest.layers]


def test_signature_copied_from_another_image_is_rejected(
    cli: Callable[..., Run], target: Target, keys: dict[str, Path]
) -> None:
    t = target
    other_text, other = t.make("other")
    assert cli("sign", "--key", str(keys["k1"]), "--format", "legacy", t.text, *t.flags).code == 0
    _rewrite_tag(t.store, ct.signature_tag(other), _layers(t.store, ct.signature_tag(t.digest)))
    run = _verify(cli, t, "--key", str(keys["k1.pub"]), image=other_text)
    assert run.code == 1
    assert f"the payload signs {t.digest}, not this image {other}" in run.out
    assert "copied from another image" in run.out


def test_attestation_about_another_image_is_rejected(
    cli: Callable[..., Run], target: Target, keys: dict[str, Path], tmp_path: Path
) -> None:
    t = target
    other_text, other = t.make("other")
    pred = tmp_path / "p.json"
    pred.write_text("{}")
    assert cli("attest", "--key", str(keys["k1"]), "--predicate", str(pred), "--format", "legacy",
               t.text, *t.flags).code == 0
    _rewrite_tag(t.store, ct.attestation_tag(other), _layers(t.store, ct.attestation_tag(t.digest)))
    run = cli("verify-attestation", "--key", str(keys["k1.pub"]), other_text, *t.flags)
    assert run.code == 1
    assert f"not this image {other}" in run.out and "the statement is about" in run.out


def _envelope_layer(store: Store, digest: Digest) -> tuple[dict[str, Any], Descriptor]:
    (data, desc), = _layers(store, ct.attestation_tag(digest))
    return json.loads(data), desc


def test_changed_dsse_payload_type_is_rejected(
    cli: Callable[..., Run], target: Target, keys: dict[str, Path], tmp_path: Path
) -> None:
    t = target
    pred = tmp_path / "p.json"
    pred.write_text("{}")
    assert cli("attest", "--key", str(keys["k1"]), "--predicate", str(pred), "--format", "legacy",
               t.text, *t.flags).code == 0
    envelope, desc = _envelope_layer(t.store, t.digest)
    envelope["payloadType"] = "application/json"
    data = json.dumps(envelope).encode()
    _rewrite_tag(t.store, ct.attestation_tag(t.digest),
                 [(data, Descriptor.of(data, mt.DSSE_ENVELOPE, annotations=desc.annotations))])
    run = cli("verify-attestation", "--key", str(keys["k1.pub"]), t.text, *t.flags)
    assert run.code == 1
    assert "the DSSE payloadType is 'application/json', not 'application/vnd.in-toto+json'" in run.out


def test_truncated_base64_signature_is_rejected(
    cli: Callable[..., Run], target: Target, keys: dict[str, Path]
) -> None:
    t = target
    assert cli("sign", "--key", str(keys["k1"]), "--format", "legacy", t.text, *t.flags).code == 0
    (payload, desc), = _layers(t.store, ct.signature_tag(t.digest))
    cut = desc.annotations[mt.ANN_SIGNATURE][:-5]  # not a multiple of 4 any more
    cut4 = desc.annotations[mt.ANN_SIGNATURE][:-8]  # still base64, but a shorter signature
    notes = dict(desc.annotations)
    bad = [(payload, Descriptor.of(payload, mt.SIMPLE_SIGNING, annotations={**notes, mt.ANN_SIGNATURE: s}))
           for s in (cut, cut4)]
    _rewrite_tag(t.store, ct.signature_tag(t.digest), bad)
    run = _verify(cli, t, "--key", str(keys["k1.pub"]), "--output", "json")
    assert run.code == 1
    reasons = [r["reason"] for r in run.json()["evidence"]["signatures"]["rejected"]]
    assert len(reasons) == 2
    assert any("not valid base64" in r for r in reasons)
    assert any("signature is malformed" in r or "does not verify" in r for r in reasons), reasons


def test_tampered_payload_blob_is_rejected_by_its_digest(
    cli: Callable[..., Run], tmp_path: Path, keys: dict[str, Path]
) -> None:
    t = _layout_target(tmp_path / "layout")
    assert cli("sign", "--key", str(keys["k1"]), "--format", "legacy", t.text).code == 0
    layer = t.store.fetch_manifest(ct.signature_tag(t.digest)).layers[0]
    blob = tmp_path / "layout" / "blobs" / "sha256" / layer.digest.hex
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[-3] ^= 0x01
    blob.write_bytes(bytes(data))
    run = cli("verify", "--key", str(keys["k1.pub"]), t.text)
    assert run.code == 1
    assert "the layer blob does not match its descriptor" in run.out and str(layer.digest) in run.out


def test_tampered_payload_blob_over_the_network_is_rejected(
    cli: Callable[..., Run], registry_http: RunningRegistry, repo_name: str, keys: dict[str, Path]
) -> None:
    from tests.support.proxy import run_proxy

    t = _registry_target(registry_http, repo_name)
    assert cli("sign", "--key", str(keys["k1"]), "--format", "legacy", t.text).code == 0
    layer = t.store.fetch_manifest(ct.signature_tag(t.digest)).layers[0]
    with run_proxy(registry_http.host) as proxy:
        proxy.tamper(f"/blobs/{layer.digest}")
        run = cli("verify", "--key", str(keys["k1.pub"]), f"{proxy.host}/{repo_name}:v1")
    assert run.code == 1
    assert "the layer blob does not match its descriptor" in run.out


def test_registry_unreachable_is_exit_3_never_pass(cli: Callable[..., Run], keys: dict[str, Path]) -> None:
    from tests.support.registry import free_port

    run = cli("verify", "--key", str(keys["k1.pub"]), f"127.0.0.1:{free_port()}/nothing/here:v1", "--output", "json")
    assert run.code == 3
    doc = run.json()
    assert doc["outcome"] == "error" and doc["incomplete"]


# -- upstream: slsa-verifier's `cosign save` layout, verified keyless offline ---------------

SV = ("slsa-framework__slsa-verifier__cli__slsa-verifier__testdata__gha_generic_container__v2.1.0__"
      "container_workflow_dispatch")
GENERATOR = (r"https://github\.com/slsa-framework/slsa-github-generator/\.github/workflows/"
             r"generator_container_slsa3\.yml@refs/tags/v.*")
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


def _slsa_verifier_layout(root: Path) -> tuple[Path, Digest]:
    """Rebuild the layout from the shared files (copied at test time, never committed)."""
    src = shared_file("anchors", "verify", f"{SV}__index.json").parent
    (root / "blobs" / "sha256").mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    shutil.copyfile(src / f"{SV}__index.json", root / "index.json")
    for blob in src.glob(f"{SV}__blobs__sha256__*"):
        shutil.copyfile(blob, root / "blobs" / "sha256" / blob.name.rsplit("__", 1)[1])
    return root, Digest.parse((src / f"{SV}.digest").read_text().strip())


@pytest.fixture
def sv_layout(tmp_path: Path) -> tuple[Path, Digest]:
    return _slsa_verifier_layout(tmp_path / "sv")


def _verify_sv(cli: Callable[..., Run], layout: Path, digest: Digest, *, identity: str = GENERATOR) -> Run:
    root = shared_file("anchors", "verify", "sigstore__cosign__pkg__cosign__testdata__trusted_root_pgi.json")
    return cli("verify-attestation", "--type", "slsaprovenance", "--certificate-identity-regexp", identity,
               "--certificate-oidc-issuer", GITHUB_ISSUER, "--trusted-root", str(root), "--output", "json",
               f"oci:{layout}@{digest}")


def _att_manifest(layout: Path) -> tuple[dict[str, Any], Path]:
    index = json.loads((layout / "index.json").read_text())
    entry = next(m for m in index["manifests"] if m["annotations"]["kind"] == mt.KIND_ATTS)
    path = layout / "blobs" / "sha256" / entry["digest"].split(":")[1]
    return json.loads(path.read_bytes()), path


def _replace_att_manifest(layout: Path, manifest: dict[str, Any]) -> None:
    raw = json.dumps(manifest).encode()
    digest = Digest.of(raw)
    (layout / "blobs" / "sha256" / digest.hex).write_bytes(raw)
    index = json.loads((layout / "index.json").read_text())
    for m in index["manifests"]:
        if m["annotations"]["kind"] == mt.KIND_ATTS:
            m["digest"], m["size"] = str(digest), len(raw)
    (layout / "index.json").write_text(json.dumps(index))


def test_slsa_verifier_att_verifies_keyless_offline(cli: Callable[..., Run], sv_layout: tuple[Path, Digest]) -> None:
    run = _verify_sv(cli, *sv_layout)
    assert run.code == 0, run.out
    verified = run.json()["evidence"]["attestations"]["verified"]
    assert len(verified) == 1 and "generator_container_slsa3.yml@refs/tags/v2.1.0" in verified[0]["signer"]
    assert verified[0]["predicateType"] == "https://slsa.dev/provenance/v0.2"


def test_slsa_verifier_att_wrong_identity_fails(cli: Callable[..., Run], sv_layout: tuple[Path, Digest]) -> None:
    run = _verify_sv(cli, *sv_layout, identity=r"https://github\.com/slsa-framework/.*/not-trusted\.yml@.*")
    assert run.code == 1
    assert "certificate identity does not match" in run.out


def test_slsa_verifier_att_changed_envelope_byte_fails(
    cli: Callable[..., Run], sv_layout: tuple[Path, Digest]
) -> None:
    layout, digest = sv_layout
    # In place: the blob no longer matches its digest.
    manifest, _ = _att_manifest(layout)
    blob = layout / "blobs" / "sha256" / manifest["layers"][0]["digest"].split(":")[1]
    original = blob.read_bytes()
    envelope = json.loads(original)
    blob.write_bytes(original.replace(b'"payloadType"', b'"payloadTYPE"', 1))
    run = _verify_sv(cli, layout, digest)
    assert run.code == 1 and "does not match its descriptor" in run.out
    blob.write_bytes(original)
    # Re-hashed consistently: the content is "valid" OCI, but the DSSE signature breaks.
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[payload.index(b"example-package") + 8] ^= 0x20
    envelope["payload"] = base64.b64encode(bytes(payload)).decode()
    data = json.dumps(envelope).encode()
    (layout / "blobs" / "sha256" / Digest.of(data).hex).write_bytes(data)
    manifest["layers"][0].update(digest=str(Digest.of(data)), size=len(data))
    _replace_att_manifest(layout, manifest)
    run = _verify_sv(cli, layout, digest)
    assert run.code == 1 and "does not verify" in run.out


def test_slsa_verifier_att_changed_set_fails(cli: Callable[..., Run], sv_layout: tuple[Path, Digest]) -> None:
    layout, digest = sv_layout
    manifest, _ = _att_manifest(layout)
    notes = manifest["layers"][0]["annotations"]
    rekor = json.loads(notes[mt.ANN_BUNDLE])
    rekor["Payload"]["integratedTime"] += 1
    notes[mt.ANN_BUNDLE] = json.dumps(rekor)
    _replace_att_manifest(layout, manifest)
    run = _verify_sv(cli, layout, digest)
    assert run.code == 1
    reason = run.json()["evidence"]["attestations"]["rejected"][0]["reason"]
    assert "SET" in reason or "signed entry timestamp" in reason.lower()


# -- keyless against the loopback mock Sigstore -------------------------------------------

SUBJECT = "https://kubernetes.io/namespaces/ci/serviceaccounts/release-signer"


@pytest.fixture
def token_file(tmp_path: Path, mock_sigstore: MockSigstore) -> Path:
    path = tmp_path / "token"
    path.write_text(mock_sigstore.token(SUBJECT))
    return path


def test_keyless_sign_and_attest_round_trip(
    cli: Callable[..., Run], target: Target, mock_sigstore: MockSigstore, token_file: Path, tmp_path: Path
) -> None:
    t = target
    keyless = ["--keyless", "--identity-token", str(token_file), "--trust-config", str(mock_sigstore.trust_config)]
    assert cli("sign", *keyless, t.text, *t.flags).code == 0
    pred = tmp_path / "p.json"
    pred.write_text("{}")
    assert cli("attest", *keyless, "--type", "slsaprovenance1", "--predicate", str(pred), t.text, *t.flags).code == 0
    identity = ["--certificate-identity", SUBJECT, "--certificate-oidc-issuer-regexp", ".*",
                "--trusted-root", str(mock_sigstore.trusted_root)]
    run = _verify(cli, t, *identity, "--output", "json")
    assert run.code == 0, run.out
    verified = run.json()["evidence"]["signatures"]["verified"]
    assert len(verified) == 2 and {("referrer" in v["source"]) for v in verified} == {True, False}
    att = cli("verify-attestation", *identity, "--type", "slsaprovenance1", "--output", "json", t.text, *t.flags)
    assert att.code == 0 and len(att.json()["evidence"]["attestations"]["verified"]) == 2
    other = ["--certificate-identity", SUBJECT + "-not", "--certificate-oidc-issuer-regexp", ".*",
             "--trusted-root", str(mock_sigstore.trusted_root)]
    run = _verify(cli, t, *other)
    assert run.code == 1 and "certificate identity does not match" in run.out


def test_keyless_signature_rejected_by_key_authority(
    cli: Callable[..., Run], target: Target, mock_sigstore: MockSigstore, token_file: Path, keys: dict[str, Path]
) -> None:
    t = target
    keyless = ["--keyless", "--identity-token", str(token_file), "--trust-config", str(mock_sigstore.trust_config)]
    assert cli("sign", *keyless, "--format", "legacy", t.text, *t.flags).code == 0
    run = _verify(cli, t, "--key", str(keys["k1.pub"]))
    assert run.code == 1 and "1 found, 0 verified" in run.out


def test_keyless_signature_without_its_set_is_rejected(
    cli: Callable[..., Run], tmp_path: Path, mock_sigstore: MockSigstore, token_file: Path
) -> None:
    t = _layout_target(tmp_path / "layout")
    keyless = ["--keyless", "--identity-token", str(token_file), "--trust-config", str(mock_sigstore.trust_config)]
    assert cli("sign", *keyless, "--format", "legacy", t.text).code == 0
    (payload, desc), = _layers(t.store, ct.signature_tag(t.digest))
    notes = {k: v for k, v in desc.annotations.items() if k != mt.ANN_BUNDLE}
    _rewrite_tag(t.store, ct.signature_tag(t.digest),
                 [(payload, Descriptor.of(payload, mt.SIMPLE_SIGNING, annotations=notes))])
    run = cli("verify", "--certificate-identity", SUBJECT, "--certificate-oidc-issuer-regexp", ".*",
              "--trusted-root", str(mock_sigstore.trusted_root), t.text)
    assert run.code == 1 and "no Rekor bundle (SET)" in run.out


def test_keyless_signature_from_an_untrusted_ca_is_rejected(
    cli: Callable[..., Run], tmp_path: Path, mock_sigstore: MockSigstore, token_file: Path
) -> None:
    t = _layout_target(tmp_path / "layout")
    keyless = ["--keyless", "--identity-token", str(token_file), "--trust-config", str(mock_sigstore.trust_config)]
    assert cli("sign", *keyless, t.text).code == 0
    # The public-good root does not know the mock's Fulcio CA or Rekor key.
    pgi = shared_file("anchors", "verify", "sigstore__cosign__pkg__cosign__testdata__trusted_root_pgi.json")
    run = cli("verify", "--certificate-identity", SUBJECT, "--certificate-oidc-issuer-regexp", ".*",
              "--trusted-root", str(pgi), "--output", "json", t.text)
    assert run.code == 1
    rejected = run.json()["evidence"]["signatures"]["rejected"]
    assert len(rejected) == 2 and all(r["reason"] for r in rejected)


def test_registry_error_while_collecting_is_exit_3(
    cli: Callable[..., Run], registry_http: RunningRegistry, repo_name: str, keys: dict[str, Path]
) -> None:
    from tests.support.proxy import run_proxy

    t = _registry_target(registry_http, repo_name)
    assert cli("sign", "--key", str(keys["k1"]), t.text).code == 0
    with run_proxy(registry_http.host) as proxy:
        proxy.fail(f"/manifests/{t.digest.tag_form}.att", 500, times=None)
        run = cli("verify", "--key", str(keys["k1.pub"]), "--output", "json", f"{proxy.host}/{repo_name}:v1")
    # The signatures verified, but part of the evidence could not be read: never a pass.
    assert run.code == 3
    doc = run.json()
    assert doc["outcome"] == "error" and any(".att" in reason for reason in doc["incomplete"])
    assert len(doc["evidence"]["signatures"]["verified"]) == 2


# -- upstream: cosign's own bundle, attached as a referrer to go-containerregistry's empty.Image

EMPTY_CONFIG = (b'{"architecture":"","created":"0001-01-01T00:00:00Z","os":"","rootfs":{"type":"layers",'
                b'"diff_ids":null},"config":{}}')


def _empty_image(store: Store) -> Descriptor:
    """go-containerregistry's `empty.Image`, byte for byte (its digest is the bundle's subject)."""
    config = Descriptor.of(EMPTY_CONFIG, mt.DOCKER_CONFIG)
    store.push_blob(config, EMPTY_CONFIG)
    raw = (b'{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":'
           b'{"mediaType":"application/vnd.docker.container.image.v1+json","size":%d,"digest":"%s"},"layers":[]}'
           % (len(EMPTY_CONFIG), str(config.digest).encode()))
    return store.push_manifest(raw, mt.DOCKER_MANIFEST, tag="empty")


def test_cosign_bundle_referrer_verifies_keyless_offline(cli: Callable[..., Run], target: Target) -> None:
    from slsacheck.attach.referrers import bundle_artifact, push_bundle

    t = target
    image = _empty_image(t.store)
    assert str(image.digest) == "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
    bundle = shared_file("anchors", "verify", "sigstore__cosign__pkg__cosign__testdata__oci-attestation.sigstore.json")
    pgi = shared_file("anchors", "verify", "sigstore__cosign__pkg__cosign__testdata__trusted_root_pgi.json")
    ptype = "https://cosign.sigstore.dev/attestation/v1"
    push_bundle(t.store, image, bundle_artifact(bundle.read_bytes(), image, "dsse-envelope", predicate_type=ptype))
    other_text, other = t.make("other")
    other_desc = t.store.resolve(str(other))
    push_bundle(t.store, other_desc, bundle_artifact(bundle.read_bytes(), other_desc, "dsse-envelope",
                                                     predicate_type=ptype))
    text = t.text.rsplit(":", 1)[0] + ":empty"

    def verify(image_text: str, subject: str = ".*") -> Run:
        return cli("verify-attestation", "--type", ptype, "--certificate-identity-regexp", subject,
                   "--certificate-oidc-issuer-regexp", ".*", "--trusted-root", str(pgi), "--output", "json",
                   image_text, *t.flags)

    run = verify(text)
    assert run.code == 0, run.out
    (verified,) = run.json()["evidence"]["attestations"]["verified"]
    assert "cody@soyland.com" in verified["signer"] and "referrer" in verified["source"]
    wrong = verify(text, subject="someone@else.example")
    assert wrong.code == 1 and "certificate identity does not match" in wrong.out
    # The same bundle attached to another image: its statement is not about that image.
    moved = verify(other_text)
    assert moved.code == 1
    (rejected,) = moved.json()["evidence"]["attestations"]["rejected"]
    assert str(other.hex) in rejected["reason"] or "not this image" in rejected["reason"]


def test_identical_signature_is_not_added_twice(cli: Callable[..., Run], target: Target, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    # Ed25519 signatures are deterministic: signing again yields the very same layer.
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    (tmp_path / "ed.key").write_bytes(pem)
    t = target
    first = cli("sign", "--key", str(tmp_path / "ed.key"), "--format", "legacy", t.text, *t.flags)
    again = cli("sign", "--key", str(tmp_path / "ed.key"), "--format", "legacy", t.text, *t.flags)
    assert first.code == again.code == 0
    assert "1 new layer(s)" in first.out and "already there" in again.out
    assert len(t.store.fetch_manifest(ct.signature_tag(t.digest)).layers) == 1


def test_encrypted_key_password_sources(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private, public = generate_key_pair(b"s3cret")
    (tmp_path / "p.key").write_bytes(private)
    (tmp_path / "p.pub").write_bytes(public)
    (tmp_path / "right").write_text("s3cret\n")
    (tmp_path / "wrong").write_text("nope\n")
    t = _layout_target(tmp_path / "layout")
    wrong = cli("sign", "--key", str(tmp_path / "p.key"), "--password-file", str(tmp_path / "wrong"), t.text)
    assert wrong.code == 2 and "wrong password" in wrong.err
    assert ct.signature_tag(t.digest) not in set(t.store.tags())  # nothing written
    ok = cli("sign", "--key", str(tmp_path / "p.key"), "--password-file", str(tmp_path / "right"), t.text)
    assert ok.code == 0, ok.err
    monkeypatch.setenv("COSIGN_PASSWORD", "s3cret")
    assert cli("sign", "--key", str(tmp_path / "p.key"), "--format", "legacy", t.text).code == 0
    assert cli("verify", "--key", str(tmp_path / "p.pub"), t.text).code == 0


def test_keyless_needs_a_token_and_one_signer(
    cli: Callable[..., Run], tmp_path: Path, keys: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLSACHECK_CACHE", str(tmp_path / "empty-cache"))
    t = _layout_target(tmp_path / "layout")
    assert cli("sign", "--keyless", t.text).code == 2
    both = cli("sign", "--keyless", "--key", str(keys["k1"]), t.text)
    assert both.code == 2 and "exactly one of --key KEY and --keyless" in both.err
    nothing = cli("verify", t.text)
    assert nothing.code == 2 and "nothing to verify against" in nothing.err
    # no --trusted-root: the TUF-cached public-good root, which --offline never fetches
    no_root = cli("verify", "--certificate-identity", "x", "--certificate-oidc-issuer", "y", "--offline", t.text)
    assert no_root.code == 3 and "--trusted-root" in no_root.err and "trusted-root update" in no_root.err


def test_message_signature_bundle_over_the_manifest(
    cli: Callable[..., Run], target: Target, keys: dict[str, Path]
) -> None:
    from slsacheck.attach.referrers import bundle_artifact, push_bundle
    from slsacheck.signing.bundle_build import message_bundle
    from slsacheck.signing.keys import load_private_key
    from slsacheck.signing.keysigner import KeySigner

    t = target
    signer = KeySigner(load_private_key(keys["k1"].read_bytes(), password=lambda: b""))
    manifest = t.store.fetch_manifest(str(t.digest))
    subject = manifest.descriptor
    ours = message_bundle(signer.sign_message(manifest.raw))
    push_bundle(t.store, subject, bundle_artifact(ours, subject, "message-signature"))
    run = _verify(cli, t, "--key", str(keys["k1.pub"]), "--output", "json")
    assert run.code == 0, run.out
    assert ["referrer" in v["source"] for v in run.json()["evidence"]["signatures"]["verified"]] == [True]
    # A message bundle over another image's manifest, attached to this one, does not count.
    _, other = t.make("other")
    foreign = message_bundle(signer.sign_message(t.store.fetch_manifest(str(other)).raw))
    push_bundle(t.store, subject, bundle_artifact(foreign, subject, "message-signature"))
    doc = _verify(cli, t, "--key", str(keys["k1.pub"]), "--output", "json").json()
    reasons = [r["reason"] for r in doc["evidence"]["signatures"]["rejected"]]
    assert any("message digest is not the artifact's" in r for r in reasons), reasons


# -- the key beside the registry work ---------------------------------------------------------


def _scrypt_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads that derive a key's secret (scrypt), as they do it."""
    seen: list[str] = []
    real = signing_keys._scrypt

    def recorded(password: bytes, salt: bytes, n: int) -> bytes:
        seen.append(threading.current_thread().name)
        return real(password, salt, n)

    monkeypatch.setattr(signing_keys, "_scrypt", recorded)
    return seen


@pytest.mark.parametrize("command", ["sign", "attest"])
def test_a_key_file_is_decrypted_on_a_thread_but_never_one_that_must_prompt(
        cli: Callable[..., Run], target: Target, keys: dict[str, Path], *, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    pred = tmp_path / "p.json"
    pred.write_text("{}")
    extra = ["--type", "custom", "--predicate", str(pred)] if command == "attest" else []
    seen = _scrypt_threads(monkeypatch)
    assert cli(command, "--key", str(keys["k1"]), *extra, "--format", "legacy", target.text, *target.flags).code == 0
    assert seen == ["key"]  # $COSIGN_PASSWORD set (the fixture's, empty): no prompt can be needed
    monkeypatch.delenv("COSIGN_PASSWORD")
    prompted: list[str] = []

    def prompt(confirm: bool) -> bytes:
        prompted.append(threading.current_thread().name)
        return b""

    monkeypatch.setattr("slsacheck.cli.key_commands._prompt", prompt)
    assert cli(command, "--key", str(keys["k1"]), *extra, "--format", "legacy", target.text, *target.flags).code == 0
    assert prompted == ["MainThread"] and seen == ["key", "MainThread"]
    check = ["verify"] if command == "sign" else ["verify-attestation", "--type", "custom"]
    assert cli(*check, "--key", str(keys["k1.pub"]), "--tlog", "ignore", target.text, *target.flags).code == 0


def test_the_keys_error_is_reported_before_the_registrys(
        cli: Callable[..., Run], keys: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    unreachable = "127.0.0.1:1/nothing/here:v1"  # nothing listens: the registry work fails too
    monkeypatch.setenv("COSIGN_PASSWORD", "not the password")
    run = cli("sign", "--key", str(keys["k1"]), "--format", "legacy", unreachable)
    assert run.code == 2 and "password" in run.err and "127.0.0.1:1" not in run.err, run.err
    bad_predicate = tmp_path / "p.json"
    bad_predicate.write_text("{not json")
    run = cli("attest", "--key", str(keys["k1"]), "--type", "custom", "--predicate", str(bad_predicate), unreachable)
    assert run.code == 2 and "p.json" in run.err and "password" not in run.err, run.err  # the predicate, read first
    monkeypatch.setenv("COSIGN_PASSWORD", "")
    run = cli("sign", "--key", str(keys["k1"]), "--format", "legacy", unreachable)
    assert run.code == 3 and "127.0.0.1:1" in run.err, run.err
