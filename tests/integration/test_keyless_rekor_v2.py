"""Keyless signing the way cosign 3 does: a signing config that selects Fulcio, a Rekor v2
log and a timestamp authority, against the loopback mock Sigstore (whose Rekor v2 log keeps
a real RFC 6962 tree and signs its checkpoints as signed notes).

A Rekor v2 entry proves inclusion but carries no time (no integrated time, no SET): the
signature's time comes from the TSA alone. The bundles are judged by sigstore-python, by
`@sigstore/verify` and by slsacheck offline; the negative tests build the evidence as an
attacker would (a re-signed checkpoint, a proof or a timestamp lifted from another
signature, a TSA of their own) and every verifier that reads the format must refuse it.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.errors import VerificationError
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from slsacheck.signing.bundle import verify_bundle
from slsacheck.signing.identity import Identity
from slsacheck.signing.keyless import InvalidTrustConfig, KeylessSigner, SigstoreServiceError
from slsacheck.signing.trust import load_trusted_root, trusted_root_from_json
from slsacheck.signing.verifier import Verified
from tests.integration.test_keyless import statement
from tests.support.cli import Run, cli
from tests.support.peers import js_verify, py_verify_identity
from tests.support.private_sigstore import make_tsa
from tests.support.sigstore_mock import DEFAULT_ISSUER, MockSigstore, mock_sigstore
from tests.support.tuf_repo import TufRepo

__all__ = ["cli", "mock_sigstore"]  # the fixtures, imported for pytest

pytestmark = pytest.mark.integration

SUBJECT = "https://kubernetes.io/namespaces/ci/serviceaccounts/release-signer"
IDENTITY = Identity(subject=SUBJECT, issuer=DEFAULT_ISSUER)
ARTIFACT = b"the artifact cosign 3 would sign"
Doc = dict[str, Any]


@pytest.fixture(scope="module")
def signer(mock_sigstore: MockSigstore) -> KeylessSigner:
    return KeylessSigner(
        mock_sigstore.token(SUBJECT),
        signing_config=str(mock_sigstore.signing_config_v2),
        trusted_root=str(mock_sigstore.trusted_root),
    )


@pytest.fixture(scope="module")
def bundles(signer: KeylessSigner) -> dict[str, Doc]:
    """Two message signatures over the same artifact (two leaves of the log) and a DSSE one."""
    out: dict[str, Doc] = {}
    for name in ("message", "other"):
        material = signer.sign_message(ARTIFACT).material
        assert material.sigstore_bundle is not None
        out[name] = dict(material.sigstore_bundle)
    dsse = signer.sign_dsse("application/vnd.in-toto+json", statement(ARTIFACT)).material
    assert dsse.sigstore_bundle is not None
    out["dsse"] = dict(dsse.sigstore_bundle)
    return out


def _entry(bundle: Doc) -> Doc:
    [entry] = bundle["verificationMaterial"]["tlogEntries"]
    return dict(entry)


def _write(tmp_path: Path, name: str, doc: Doc) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def _slsacheck(bundle: Doc, root: Path) -> Verified:
    return verify_bundle(json.dumps(bundle), artifact=ARTIFACT, identity=IDENTITY, trusted_root=load_trusted_root(root))


def _js(bundle: Doc, root: Path, tmp_path: Path) -> Any:
    artifact = tmp_path / "artifact.bin"
    artifact.write_bytes(ARTIFACT)
    return js_verify(_write(tmp_path, "bundle.json", bundle), artifact=artifact, trusted_root=root,
                     identity=SUBJECT, issuer=DEFAULT_ISSUER)


# -- what the signer writes ----------------------------------------------------------------


def test_bundle_carries_a_rekor_v2_entry_and_a_timestamp(mock_sigstore: MockSigstore, bundles: dict[str, Doc]) -> None:
    root = json.loads(mock_sigstore.trusted_root.read_text())
    v2_logs = [t for t in root["tlogs"] if "checkpointKeyId" in t]
    assert len(v2_logs) == 1
    for name, kind in (("message", "hashedrekord"), ("dsse", "dsse")):
        bundle = bundles[name]
        assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
        entry = _entry(bundle)
        assert entry["kindVersion"] == {"kind": kind, "version": "0.0.2"}
        # Rekor v2 signs no entry timestamp and records no time.
        assert "inclusionPromise" not in entry and not entry.get("integratedTime")
        assert entry["logId"] == v2_logs[0]["checkpointKeyId"]
        proof = entry["inclusionProof"]
        note = proof["checkpoint"]["envelope"]
        assert note.split("\n")[1:3] == [proof["treeSize"], proof["rootHash"]]
        assert len(bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]) == 1
    # Later leaves carry a real audit path.
    assert int(_entry(bundles["dsse"])["inclusionProof"]["treeSize"]) >= 3
    assert _entry(bundles["dsse"])["inclusionProof"]["hashes"]


def test_message_bundle_verifies_with_sigstore_python_sigstore_js_and_slsacheck(
    mock_sigstore: MockSigstore, bundles: dict[str, Doc], tmp_path: Path
) -> None:
    artifact = tmp_path / "artifact.bin"
    artifact.write_bytes(ARTIFACT)
    path = _write(tmp_path, "artifact.bin.sigstore.json", bundles["message"])
    py = py_verify_identity(path, artifact, trust_config=mock_sigstore.trust_config_v2,
                            identity=SUBJECT, issuer=DEFAULT_ISSUER)
    assert py, py.output
    js = _js(bundles["message"], mock_sigstore.trusted_root, tmp_path)
    assert js, js.output
    result = _slsacheck(bundles["message"], mock_sigstore.trusted_root)
    assert (result.kind, result.subject, result.tlog_entries) == ("message", SUBJECT, 1)
    assert result.integrated_time is None and len(result.timestamps) == 1


def test_dsse_bundle_is_logged_as_cosign_3_logs_it(
    mock_sigstore: MockSigstore, bundles: dict[str, Doc], tmp_path: Path
) -> None:
    js = _js(bundles["dsse"], mock_sigstore.trusted_root, tmp_path)
    assert js, js.output
    result = _slsacheck(bundles["dsse"], mock_sigstore.trusted_root)
    assert (result.kind, result.payload_type) == ("dsse", "application/vnd.in-toto+json")
    assert result.integrated_time is None and len(result.timestamps) == 1
    # sigstore-python 4.5 logs DSSE on Rekor v2 as a hashedrekord over the PAE, which
    # @sigstore/verify and cosign 3 refuse, and reads no dsse 0.0.2 entry yet. When it
    # does, this assertion fails: then the bundle verifies with all three peers.
    artifact = tmp_path / "artifact.bin"
    artifact.write_bytes(ARTIFACT)
    py = py_verify_identity(_write(tmp_path, "dsse.sigstore.json", bundles["dsse"]), artifact,
                            trust_config=mock_sigstore.trust_config_v2, identity=SUBJECT, issuer=DEFAULT_ISSUER)
    assert not py and py.says("Unsupported DSSE log entry type: dsse/0.0.2"), py.output


# -- attacker-built evidence -------------------------------------------------------------------


def _both_refuse(
    bundle: Doc, mock_sigstore: MockSigstore, tmp_path: Path, words: str, *, root: Path | None = None
) -> str:
    """slsacheck and @sigstore/verify refuse `bundle`; slsacheck's reason contains `words`."""
    root = root or mock_sigstore.trusted_root
    with pytest.raises(VerificationError) as caught:
        _slsacheck(bundle, root)
    js = _js(bundle, root, tmp_path)
    assert not js, "@sigstore/verify accepted the forged bundle"
    reason = str(caught.value)
    assert words in reason, reason
    return reason


def _resign_checkpoint(note: str, key: ec.EllipticCurvePrivateKey) -> str:
    """The checkpoint's note signed again by `key`, under the log's own name and key hint."""
    body, sigline = note.split("\n\n")
    _, name, sig = sigline.strip().split(" ")
    hint = base64.b64decode(sig)[:4]
    signature = key.sign((body + "\n").encode(), ec.ECDSA(hashes.SHA256()))
    return f"{body}\n\n\u2014 {name} {base64.b64encode(hint + signature).decode()}\n"


def test_checkpoint_signed_by_another_key_is_refused(
    mock_sigstore: MockSigstore, bundles: dict[str, Doc], tmp_path: Path
) -> None:
    forged = copy.deepcopy(bundles["message"])
    proof = forged["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    proof["checkpoint"]["envelope"] = _resign_checkpoint(proof["checkpoint"]["envelope"],
                                                         ec.generate_private_key(ec.SECP256R1()))
    _both_refuse(forged, mock_sigstore, tmp_path, "checkpoint signature does not verify")


def test_checkpoint_for_a_tree_the_log_never_signed_is_refused(
    mock_sigstore: MockSigstore, bundles: dict[str, Doc], tmp_path: Path
) -> None:
    # The attacker computes a tree of one holding their own leaf, with its root in both the
    # proof and the checkpoint note; the log's signature over the real note stays attached.
    # (The entry must not be the log's first: a tree of one would be the real tree.)
    forged = copy.deepcopy(bundles["other"])
    entry = forged["verificationMaterial"]["tlogEntries"][0]
    assert int(entry["inclusionProof"]["treeSize"]) > 1
    body = base64.b64decode(entry["canonicalizedBody"])
    root = base64.b64encode(hashlib.sha256(b"\x00" + body).digest()).decode()
    note, signatures = entry["inclusionProof"]["checkpoint"]["envelope"].split("\n\n")
    origin = note.split("\n")[0]
    entry["inclusionProof"].update(logIndex="0", treeSize="1", rootHash=root, hashes=[])
    entry["logIndex"] = "0"
    entry["inclusionProof"]["checkpoint"]["envelope"] = f"{origin}\n1\n{root}\n\n{signatures}"
    _both_refuse(forged, mock_sigstore, tmp_path, "checkpoint signature does not verify")


def test_inclusion_proof_of_another_leaf_is_refused(
    mock_sigstore: MockSigstore, bundles: dict[str, Doc], tmp_path: Path
) -> None:
    # A genuine proof and checkpoint, but for the other signature's leaf.
    forged = copy.deepcopy(bundles["message"])
    entry = forged["verificationMaterial"]["tlogEntries"][0]
    other = _entry(bundles["other"])
    entry["inclusionProof"] = copy.deepcopy(other["inclusionProof"])
    entry["logIndex"] = other["logIndex"]
    _both_refuse(forged, mock_sigstore, tmp_path, "inclusion proof does not lead to its root hash")
    # The other leaf's body with it: the proof holds, but the entry names another signature.
    entry["canonicalizedBody"] = other["canonicalizedBody"]
    _both_refuse(forged, mock_sigstore, tmp_path, "does not match this signature")


def test_timestamp_over_another_signature_is_refused(
    mock_sigstore: MockSigstore, bundles: dict[str, Doc], tmp_path: Path
) -> None:
    forged = copy.deepcopy(bundles["message"])
    forged["verificationMaterial"]["timestampVerificationData"] = copy.deepcopy(
        bundles["other"]["verificationMaterial"]["timestampVerificationData"]
    )
    _both_refuse(forged, mock_sigstore, tmp_path, "no verified time")


def test_timestamp_from_a_tsa_outside_the_trusted_root_is_refused(
    mock_sigstore: MockSigstore, bundles: dict[str, Doc], tmp_path: Path
) -> None:
    # The attacker runs a TSA of their own and stamps the real signature with it.
    forged = copy.deepcopy(bundles["message"])
    signature = base64.b64decode(forged["messageSignature"]["signature"])
    stamp = make_tsa("attacker tsa").stamp(signature, dt.datetime.now(dt.UTC).replace(microsecond=0))
    forged["verificationMaterial"]["timestampVerificationData"] = {
        "rfc3161Timestamps": [{"signedTimestamp": base64.b64encode(stamp).decode()}]
    }
    _both_refuse(forged, mock_sigstore, tmp_path, "no verified time")
    # And the mock's own TSA, once the trusted root no longer lists it.
    root = json.loads(mock_sigstore.trusted_root.read_text())
    root["timestampAuthorities"] = []
    without_tsa = _write(tmp_path, "root-without-tsa.json", root)
    _both_refuse(copy.deepcopy(bundles["message"]), mock_sigstore, tmp_path, "no verified time", root=without_tsa)


def test_rekor_v2_entry_without_a_timestamp_is_refused(
    mock_sigstore: MockSigstore, bundles: dict[str, Doc], tmp_path: Path
) -> None:
    for name in ("message", "dsse"):
        forged = copy.deepcopy(bundles[name])
        del forged["verificationMaterial"]["timestampVerificationData"]
        _both_refuse(forged, mock_sigstore, tmp_path, "no verified time")
        # A time of the attacker's choosing, with no SET to vouch for it, is no time either.
        now = int(dt.datetime.now(dt.UTC).timestamp())
        forged["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = str(now)
        with pytest.raises(VerificationError, match="no verified time"):
            _slsacheck(forged, mock_sigstore.trusted_root)


def test_trust_root_without_the_v2_log_refuses_its_entries(
    mock_sigstore: MockSigstore, bundles: dict[str, Doc], tmp_path: Path
) -> None:
    root = json.loads(mock_sigstore.trusted_root.read_text())
    root["tlogs"] = [t for t in root["tlogs"] if "checkpointKeyId" not in t]
    path = _write(tmp_path, "root-v1-only.json", root)
    trusted_root_from_json(root)  # still a valid root, only without the v2 log
    _both_refuse(copy.deepcopy(bundles["message"]), mock_sigstore, tmp_path, "log the trust root does not know",
                 root=path)


# -- the signing config --------------------------------------------------------------------


def _config(mock_sigstore: MockSigstore, tmp_path: Path, change: Callable[[Doc], None]) -> Path:
    doc = json.loads(mock_sigstore.signing_config_v2.read_text())
    change(doc)
    return _write(tmp_path, "signing_config.json", doc)


def _signer_for(mock_sigstore: MockSigstore, config: Path) -> KeylessSigner:
    return KeylessSigner(mock_sigstore.token(SUBJECT), signing_config=str(config),
                         trusted_root=str(mock_sigstore.trusted_root))


def test_signing_config_naming_an_unsupported_rekor_version_is_a_clear_error(
    mock_sigstore: MockSigstore, tmp_path: Path
) -> None:
    def rekor_v3(doc: Doc) -> None:
        doc["rekorTlogUrls"][0]["majorApiVersion"] = 3

    with pytest.raises(InvalidTrustConfig) as caught:
        _signer_for(mock_sigstore, _config(mock_sigstore, tmp_path, rekor_v3))
    error = caught.value
    assert "names no Rekor log this client can write to" in str(error)
    assert error.found is not None and "v3 at " + mock_sigstore.url in error.found
    assert error.hint


def test_signing_config_with_rekor_v2_and_no_tsa_is_refused_before_signing(
    mock_sigstore: MockSigstore, tmp_path: Path
) -> None:
    def no_tsa(doc: Doc) -> None:
        doc["tsaUrls"] = []

    signer = _signer_for(mock_sigstore, _config(mock_sigstore, tmp_path, no_tsa))
    with pytest.raises(InvalidTrustConfig, match="names no timestamp authority"):
        signer.sign_message(ARTIFACT)


def test_an_unreachable_tsa_fails_the_signature_instead_of_writing_an_unverifiable_bundle(
    mock_sigstore: MockSigstore, tmp_path: Path
) -> None:
    def dead_tsa(doc: Doc) -> None:
        doc["tsaUrls"][0]["url"] = "http://127.0.0.1:9/api/v1/timestamp"

    signer = _signer_for(mock_sigstore, _config(mock_sigstore, tmp_path, dead_tsa))
    with pytest.raises(SigstoreServiceError, match="no timestamp authority stamped the signature"):
        signer.sign_message(ARTIFACT)


def test_signing_config_that_is_not_one(mock_sigstore: MockSigstore, tmp_path: Path) -> None:
    def old_media_type(doc: Doc) -> None:
        doc["mediaType"] = "application/vnd.dev.sigstore.signingconfig.v0.1+json"

    with pytest.raises(InvalidTrustConfig, match="not a Sigstore signing config this client reads"):
        _signer_for(mock_sigstore, _config(mock_sigstore, tmp_path, old_media_type))
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    with pytest.raises(InvalidTrustConfig, match="is not JSON"):
        _signer_for(mock_sigstore, garbage)


# -- the CLI, as a cosign 3 user runs it ---------------------------------------------------------


def _layout(tmp_path: Path) -> str:
    path = tmp_path / "layout"
    scratch.push(LayoutStore(path, create=True), scratch.image({"hello": b"rekor v2"}), tag="v1")
    return f"oci:{path}:v1"


def test_cli_sign_and_attest_with_a_signing_config_verify_offline(
    cli: Callable[..., Run], mock_sigstore: MockSigstore, tmp_path: Path
) -> None:
    image = _layout(tmp_path)
    token = tmp_path / "token"
    token.write_text(mock_sigstore.token(SUBJECT))
    keyless = ["--keyless", "--identity-token", str(token), "--signing-config", str(mock_sigstore.signing_config_v2),
               "--trusted-root", str(mock_sigstore.trusted_root)]
    signed = cli("sign", *keyless, image)
    assert signed.code == 0, signed.err
    assert "Rekor v2" in signed.err and "bundle referrer" in signed.out and ".sig" not in signed.out
    predicate = tmp_path / "predicate.json"
    predicate.write_text('{"buildDefinition": {"buildType": "https://tekton.dev/chains/v2/slsa"}}')
    attested = cli("attest", *keyless, "--type", "slsaprovenance1", "--predicate", str(predicate), image)
    assert attested.code == 0, attested.err

    identity = ["--certificate-identity", SUBJECT, "--certificate-oidc-issuer", DEFAULT_ISSUER,
                "--trusted-root", str(mock_sigstore.trusted_root), "--offline"]
    run = cli("verify", *identity, "--output", "json", image)
    assert run.code == 0, run.out
    assert len(run.json()["evidence"]["signatures"]["verified"]) == 1
    att = cli("verify-attestation", *identity, "--type", "slsaprovenance1", image)
    assert att.code == 0, att.out

    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "apiVersion: slsacheck.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: rekor-v2\nspec:\n"
        f"  images:\n    include: ['oci:{tmp_path / 'layout'}']\n"
        "  authorities:\n    - name: pipeline\n      keyless:\n"
        f"        trustedRoot: {mock_sigstore.trusted_root}\n"
        f"        identities:\n          - issuer: {DEFAULT_ISSUER}\n            subject: {SUBJECT}\n"
        "  signatures:\n    authorities: [pipeline]\n    threshold: 1\n"
        "  attestations:\n    - name: provenance\n      predicateType: slsaprovenance1\n"
        "      authorities: [pipeline]\n"
    )
    judged = cli("verify", "--policy", str(policy), "--offline", image)
    assert judged.code == 0, judged.out

    # A root without the TSA: the signatures have no trusted time left.
    root = json.loads(mock_sigstore.trusted_root.read_text())
    root["timestampAuthorities"] = []
    without_tsa = _write(tmp_path, "root-without-tsa.json", root)
    refused = cli("verify", "--certificate-identity", SUBJECT, "--certificate-oidc-issuer", DEFAULT_ISSUER,
                  "--trusted-root", str(without_tsa), "--offline", image)
    assert refused.code == 1, refused.out


def test_cli_refuses_legacy_placement_and_bad_signing_configs(
    cli: Callable[..., Run], mock_sigstore: MockSigstore, tmp_path: Path
) -> None:
    image = _layout(tmp_path)
    token = tmp_path / "token"
    token.write_text(mock_sigstore.token(SUBJECT))
    keyless = ["--keyless", "--identity-token", str(token), "--trusted-root", str(mock_sigstore.trusted_root)]
    legacy = cli("sign", *keyless, "--signing-config", str(mock_sigstore.signing_config_v2), "--format", "legacy",
                 image)
    assert legacy.code == 2 and "--format legacy cannot carry a Rekor v2 entry" in legacy.err
    config = json.loads(mock_sigstore.signing_config_v2.read_text())
    config["rekorTlogUrls"][0]["majorApiVersion"] = 3
    v3 = _write(tmp_path, "v3.json", config)
    run = cli("sign", *keyless, "--signing-config", str(v3), image)
    assert run.code == 2 and "names no Rekor log this client can write to" in run.err
    assert "Traceback" not in run.err
    both = cli("sign", *keyless, "--signing-config", str(v3), "--trust-config", str(mock_sigstore.trust_config_v2),
               image)
    assert both.code == 2 and "not both" in both.err
    with_key = cli("sign", "--key", str(tmp_path / "cosign.key"), "--signing-config",
                   str(mock_sigstore.signing_config_v2), image)
    assert with_key.code == 2 and "choose the Sigstore services of --keyless signing" in with_key.err
    # Nothing was written by the refused commands.
    assert cli("verify", "--certificate-identity", SUBJECT, "--certificate-oidc-issuer", DEFAULT_ISSUER,
               "--trusted-root", str(mock_sigstore.trusted_root), "--offline", image).code == 1


def test_cli_takes_the_v2_signing_config_and_root_from_the_tuf_cache(
    cli: Callable[..., Run], mock_sigstore: MockSigstore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As cosign 3: the signing config published beside trusted_root.json in the TUF
    repository chooses Rekor v2 and the TSA; or --signing-config names one and the TUF-cached
    root is its trusted root."""
    monkeypatch.setenv("SLSACHECK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", mock_sigstore.token(SUBJECT))
    repo = TufRepo({"trusted_root.json": mock_sigstore.trusted_root.read_bytes(),
                    "signing_config.v0.2.json": mock_sigstore.signing_config_v2.read_bytes()})
    (tmp_path / "root.json").write_bytes(repo.initial_root)
    first, second = _layout(tmp_path / "a"), _layout(tmp_path / "b")
    with repo.served() as url:
        assert cli("trusted-root", "update", "--mirror", url, "--root", str(tmp_path / "root.json")).code == 0
        from_tuf = cli("sign", "--keyless", "--tuf-mirror", url, first)
        assert from_tuf.code == 0 and "Rekor v2" in from_tuf.err, from_tuf.err
        named = cli("sign", "--keyless", "--tuf-mirror", url, "--signing-config",
                    str(mock_sigstore.signing_config_v2), second)
        assert named.code == 0 and "Rekor v2" in named.err, named.err
        identity = ["--certificate-identity", SUBJECT, "--certificate-oidc-issuer", DEFAULT_ISSUER]
        for image in (first, second):
            run = cli("verify", *identity, "--tuf-mirror", url, "--offline", "--output", "json", image)
            assert run.code == 0, run.out
            [verified] = run.json()["evidence"]["signatures"]["verified"]
            assert "referrer" in verified["source"]


def test_cli_sign_blob_and_attest_blob_with_a_signing_config(
    cli: Callable[..., Run], mock_sigstore: MockSigstore, tmp_path: Path
) -> None:
    artifact = tmp_path / "artifact.bin"
    artifact.write_bytes(ARTIFACT)
    token = tmp_path / "token"
    token.write_text(mock_sigstore.token(SUBJECT))
    keyless = ["--keyless", "--identity-token", str(token), "--signing-config", str(mock_sigstore.signing_config_v2),
               "--trusted-root", str(mock_sigstore.trusted_root)]
    bundle = tmp_path / "artifact.bin.sigstore.json"
    signed = cli("sign-blob", *keyless, "--bundle", str(bundle), str(artifact))
    assert signed.code == 0, signed.err
    assert _entry(json.loads(bundle.read_text()))["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.2"}
    identity = ["--certificate-identity", SUBJECT, "--certificate-oidc-issuer", DEFAULT_ISSUER,
                "--trusted-root", str(mock_sigstore.trusted_root)]
    assert cli("verify-blob", *identity, "--bundle", str(bundle), str(artifact)).code == 0
    py = py_verify_identity(bundle, artifact, trust_config=mock_sigstore.trust_config_v2, identity=SUBJECT,
                            issuer=DEFAULT_ISSUER)
    assert py, py.output
    js = js_verify(bundle, artifact=artifact, trusted_root=mock_sigstore.trusted_root, identity=SUBJECT,
                   issuer=DEFAULT_ISSUER)
    assert js, js.output
    artifact.write_bytes(ARTIFACT + b" changed")
    assert cli("verify-blob", *identity, "--bundle", str(bundle), str(artifact)).code == 1
    artifact.write_bytes(ARTIFACT)

    predicate = tmp_path / "predicate.json"
    predicate.write_text('{"buildDefinition": {"buildType": "https://tekton.dev/chains/v2/slsa"}}')
    attestation = tmp_path / "attestation.sigstore.json"
    attested = cli("attest-blob", *keyless, "--type", "slsaprovenance1", "--predicate", str(predicate),
                   "--bundle", str(attestation), str(artifact))
    assert attested.code == 0, attested.err
    assert _entry(json.loads(attestation.read_text()))["kindVersion"] == {"kind": "dsse", "version": "0.0.2"}
    run = cli("verify-blob-attestation", *identity, "--type", "slsaprovenance1", "--bundle", str(attestation),
              str(artifact))
    assert run.code == 0, run.out
