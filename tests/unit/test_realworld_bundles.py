"""Sigstore bundles other clients wrote (sigstore-go, sigstore-python, sigstore-rs test
data, `realworld/` in the shared folder), each with the outcome its own project asserts
(the folder's README names the upstream test). Where slsacheck differs on purpose, the
test says so. Nothing reaches the network.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.errors import InputError, VerificationError
from slsacheck.models.digest import Digest
from slsacheck.signing.bundle import parse_digest_or_none, verify_bundle
from slsacheck.signing.bundle_build import dsse_bundle, message_bundle
from slsacheck.signing.dsse import IN_TOTO_PAYLOAD_TYPE
from slsacheck.signing.identity import Identity
from slsacheck.signing.keys import fingerprint, load_public_key, public_key_of
from slsacheck.signing.keysigner import KeySigner
from slsacheck.signing.trust import TrustedRoot, TrustRootError, load_trusted_root
from tests.support.cli import Cli, cli
from tests.support.env import shared_file
from tests.support.private_sigstore import START, PrivateSigstore, make_private_sigstore

__all__ = ["cli"]  # a fixture, imported so pytest finds it here

PY = ("realworld", "sigstore__sigstore-python")
ASSETS = (*PY, "test", "assets")
ANYONE = Identity(subject_regexp=".*", issuer_regexp=".*")


def _json(*parts: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(shared_file(*parts).read_text())
    return doc


def _root(*parts: str) -> TrustedRoot:
    return load_trusted_root(shared_file(*parts))


@pytest.fixture(scope="module")
def production() -> TrustedRoot:
    return _root(*PY, "roots", "production_trusted_root.json")


@pytest.fixture(scope="module")
def staging() -> TrustedRoot:
    return _root(*PY, "roots", "staging_trusted_root.json")


# -- an inclusion proof without its checkpoint (item: CPython's release bundle) ---------------

CPYTHON = (*ASSETS, "integration", "Python-3.12.5.tgz.sigstore")
CPYTHON_SHA256 = Digest("sha256", "38dc4e2c261d49c661196066edbfb70fdb16be4a79cc8220c224dfeb5636d405")
CPYTHON_SIGNER = Identity(subject="thomas@python.org", issuer="https://accounts.google.com")


def test_cpython_bundle_with_a_proof_lacking_its_checkpoint_is_refused(production: TrustedRoot) -> None:
    """sigstore-python (`test_plumbing.py`) and sigstore-go (`pkg/tlog/entry.go`) refuse it as-is:
    the bundle format makes InclusionProof.checkpoint REQUIRED in every version."""
    bundle = _json(*CPYTHON)
    assert bundle["mediaType"].endswith("version=0.1")
    assert "checkpoint" not in bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    with pytest.raises(VerificationError, match="inclusion proof has no checkpoint"):
        verify_bundle(bundle, digest=CPYTHON_SHA256, identity=CPYTHON_SIGNER, trusted_root=production)


def test_cpython_bundle_without_the_incomplete_proof_verifies_on_its_set(production: TrustedRoot) -> None:
    """The other direction: v0.1 may omit the proof and rely on the SET (sigstore-go accepts this;
    sigstore-python is stricter still and wants a proof in every bundle)."""
    bundle = _json(*CPYTHON)
    del bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    result = verify_bundle(bundle, digest=CPYTHON_SHA256, identity=CPYTHON_SIGNER, trusted_root=production)
    assert (result.subject, result.issuer) == ("thomas@python.org", "https://accounts.google.com")
    assert result.integrated_time is not None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda e: e.pop("inclusionPromise"), "inclusion promise"),  # no proof of logging at all
        (lambda e: e.update(integratedTime=str(int(e["integratedTime"]) + 60)), "SET"),  # forged time
        (lambda e: e["inclusionProof"].update(checkpoint={"envelope": ""}), "no checkpoint"),  # empty checkpoint
    ],
)
def test_cpython_bundle_attacks_stay_refused(production: TrustedRoot, edit: Any, message: str) -> None:
    bundle = copy.deepcopy(_json(*CPYTHON))
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    edit(entry)
    if message != "no checkpoint":
        entry.pop("inclusionProof", None)
    with pytest.raises(VerificationError, match=message):
        verify_bundle(bundle, digest=CPYTHON_SHA256, identity=CPYTHON_SIGNER, trusted_root=production)


def test_v02_bundle_without_checkpoint_is_refused(staging: TrustedRoot) -> None:
    """sigstore-python `test_verification_materials_offline_no_checkpoint`."""
    with pytest.raises(VerificationError, match="checkpoint"):
        verify_bundle(
            shared_file(*ASSETS, "bundle_no_checkpoint.txt.sigstore").read_bytes(),
            artifact=shared_file(*ASSETS, "bundle_no_checkpoint.txt").read_bytes(),
            identity=ANYONE,
            trusted_root=staging,
        )


def test_cpython_bundle_over_another_artifact_is_refused(production: TrustedRoot) -> None:
    bundle = _json(*CPYTHON)
    del bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    other = Digest("sha256", "00" * 32)
    with pytest.raises(VerificationError):
        verify_bundle(bundle, digest=other, identity=CPYTHON_SIGNER, trusted_root=production)


# -- digests other than sha256 (npm names packages by sha512) ---------------------------------

GO = ("realworld", "sigstore__sigstore-go")
NPM_BUNDLE = (*GO, "pkg", "testing", "data", "bundles", "sigstore.js@2.0.0-provenance.sigstore.json")
SIGSTORE_JS = Identity(
    subject="https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main",
    issuer="https://token.actions.githubusercontent.com",
)


def _subject_digest(*bundle: str, algorithm: str = "sha512") -> Digest:
    statement = json.loads(base64.b64decode(_json(*bundle)["dsseEnvelope"]["payload"]))
    return Digest(algorithm, statement["subject"][0]["digest"][algorithm])


@pytest.mark.parametrize(
    ("bundle", "root"),
    [
        (NPM_BUNDLE, (*GO, "pkg", "testing", "data", "trusted-roots", "public-good.json")),
        ((*GO, "examples", "bundle-provenance.json"), (*GO, "examples", "trusted-root-public-good.json")),
    ],
)
def test_npm_provenance_verifies_by_its_sha512_subject(bundle: tuple[str, ...], root: tuple[str, ...]) -> None:
    """sigstore-go `TestEntitySignedByPublicGoodWithCertificateIdentityVerifiesSuccessfully` and
    its verification example: the subject carries sha512 only."""
    digest = _subject_digest(*bundle)
    result = verify_bundle(_json(*bundle), digest=digest, identity=SIGSTORE_JS, trusted_root=_root(*root))
    assert result.kind == "dsse" and result.subject == SIGSTORE_JS.subject
    flipped = Digest("sha512", ("0" if digest.hex[0] != "0" else "1") + digest.hex[1:])
    with pytest.raises(VerificationError, match="not a subject"):
        verify_bundle(_json(*bundle), digest=flipped, identity=SIGSTORE_JS, trusted_root=_root(*root))


def test_npm_publish_attestation_verifies_with_the_registry_key() -> None:
    bundle = (*GO, "examples", "bundle-publish.json")
    key = load_public_key(shared_file(*GO, "examples", "publish_key.pub").read_bytes())
    root = _root(*GO, "examples", "trusted-root-public-good.json")
    result = verify_bundle(_json(*bundle), digest=_subject_digest(*bundle), public_key=key, trusted_root=root)
    assert result.key_fingerprint == fingerprint(key)


def test_a_sha256_digest_cannot_stand_for_a_sha512_only_subject() -> None:
    """A digest in an algorithm the subject does not carry names nothing: refused, with advice."""
    root = _root(*GO, "pkg", "testing", "data", "trusted-roots", "public-good.json")
    with pytest.raises(VerificationError, match="not a subject") as info:
        verify_bundle(_json(*NPM_BUNDLE), digest=Digest("sha256", "ab" * 32), identity=SIGSTORE_JS, trusted_root=root)
    assert "sha512" in (info.value.hint or "")


KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def signer() -> KeySigner:
    return KeySigner(KEY)


def _statement_bundle(signer: KeySigner, digest_set: dict[str, str]) -> dict[str, Any]:
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "pkg.tgz", "digest": digest_set}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {},
    }
    return dsse_bundle(signer.sign_dsse(IN_TOTO_PAYLOAD_TYPE, json.dumps(statement).encode()))


FILE = b"the package bytes\n"


def _hex(algorithm: str, data: bytes = FILE) -> str:
    return hashlib.new(algorithm, data).hexdigest()


@pytest.mark.parametrize("algorithms", [("sha512",), ("sha384",), ("sha256", "sha512"), ("sha3_256",)])
def test_file_matches_a_subject_on_every_shared_algorithm(signer: KeySigner, algorithms: tuple[str, ...]) -> None:
    bundle = _statement_bundle(signer, {a: _hex(a) for a in algorithms})
    key = public_key_of(KEY)
    assert verify_bundle(bundle, artifact=FILE, public_key=key).kind == "dsse"
    for algorithm in algorithms:  # the digest argument in each algorithm the subject carries
        verify_bundle(bundle, digest=Digest(algorithm, _hex(algorithm)), public_key=key)
    with pytest.raises(VerificationError, match="not a subject"):  # a tampered file
        verify_bundle(bundle, artifact=FILE + b"x", public_key=key)


def test_a_subject_that_disagrees_on_one_shared_algorithm_is_not_the_file(signer: KeySigner) -> None:
    """An attacker's subject with the right sha256 and another artifact's sha512 names neither."""
    bundle = _statement_bundle(signer, {"sha256": _hex("sha256"), "sha512": _hex("sha512", b"other")})
    key = public_key_of(KEY)
    with pytest.raises(VerificationError, match="not a subject"):
        verify_bundle(bundle, artifact=FILE, public_key=key)
    with pytest.raises(VerificationError, match="not a subject"):
        verify_bundle(bundle, digest=Digest("sha512", _hex("sha512")), public_key=key)


def test_unknown_and_weak_algorithms_never_match(signer: KeySigner) -> None:
    bundle = _statement_bundle(signer, {"sha1": _hex("sha1"), "md5": _hex("md5")})
    with pytest.raises(VerificationError, match="not a subject"):
        verify_bundle(bundle, artifact=FILE, public_key=public_key_of(KEY))


@pytest.mark.parametrize("text", ["sha512:" + "ab" * 32, "sha384:XYZ", "sha256:" + "AB" * 32, "sha1:" + "ab" * 20])
def test_malformed_or_weak_digest_arguments_are_input_errors(text: str) -> None:
    if text.startswith("sha1:"):
        assert parse_digest_or_none(text) is None  # not a digest slsacheck knows: a file name, then
        return
    with pytest.raises(InputError):
        parse_digest_or_none(text)


def test_cli_verifies_npm_provenance_by_sha512(cli: Cli) -> None:
    root = shared_file(*GO, "pkg", "testing", "data", "trusted-roots", "public-good.json")
    digest = _subject_digest(*NPM_BUNDLE)
    args = ["verify-bundle", "--bundle", str(shared_file(*NPM_BUNDLE)), "--trusted-root", str(root),
            "--certificate-identity", SIGSTORE_JS.subject or "", "--certificate-oidc-issuer", SIGSTORE_JS.issuer or ""]
    assert cli(*args, str(digest)).code == 0
    wrong = cli(*args, "sha512:" + "0" * 128)
    assert wrong.code == 1 and "not a subject" in wrong.err
    bad = cli(*args, "sha512:1234")
    assert bad.code == 2 and "malformed sha512 digest" in bad.err


# -- several RFC 3161 timestamps, some not over this signature ---------------------------------

TSA = (*ASSETS, "tsa")
TSA_ROOT = ("realworld", "derived", "sigstore-python", "staging_root_with_test_tsa.json")
TSA_TEXT = (*TSA, "bundle.txt")


def _tsa_verify(bundle: dict[str, Any] | bytes) -> Any:
    return verify_bundle(
        bundle, artifact=shared_file(*TSA_TEXT).read_bytes(), identity=ANYONE, trusted_root=_root(*TSA_ROOT)
    )


def test_a_timestamp_over_another_message_is_skipped_and_reported() -> None:
    """sigstore-python `test_verifier_verify_timestamp`: one timestamp over this signature,
    one over sha512("hello"); the second is skipped (sigstore-go `pkg/verify/tsa.go` too)."""
    result = _tsa_verify(shared_file(*TSA, "bundle.txt.sigstore").read_bytes())
    assert len(result.timestamps) == 1
    assert len(result.rejected_timestamps) == 1 and result.rejected_timestamps[0].startswith("timestamp 1:")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bundle.many_timestamp.sigstore", "too many RFC 3161 timestamps"),
        ("bundle.duplicate.sigstore", "duplicate RFC 3161 timestamps"),
        ("bundle.txt.late_timestamp.sigstore", ""),  # upstream `test_late_timestamp`: rejected
    ],
)
def test_padded_duplicated_and_late_timestamps_are_refused(name: str, message: str) -> None:
    with pytest.raises(VerificationError, match=message or None):
        _tsa_verify(shared_file(*TSA, name).read_bytes())


def test_the_time_threshold_counts_verified_timestamps_only() -> None:
    """Without the SET and the good timestamp, the stamp over another message is no time source."""
    bundle = _json(*TSA, "bundle.txt.sigstore")
    material = bundle["verificationMaterial"]
    del material["tlogEntries"][0]["inclusionPromise"]
    stamps = material["timestampVerificationData"]["rfc3161Timestamps"]
    _tsa_verify(copy.deepcopy(bundle))  # still valid on the good timestamp alone
    del stamps[0]
    with pytest.raises(VerificationError, match="no verified time") as info:
        _tsa_verify(bundle)
    assert "timestamp 0" in (info.value.found or "")


@pytest.fixture(scope="module")
def private() -> PrivateSigstore:
    return make_private_sigstore(with_tsa=True)


def _stamped(private: PrivateSigstore, stamps: list[bytes]) -> tuple[dict[str, Any], Any]:
    bundle = message_bundle(KeySigner(KEY).sign_message(FILE))
    bundle["verificationMaterial"]["timestampVerificationData"] = {
        "rfc3161Timestamps": [{"signedTimestamp": base64.b64encode(s).decode()} for s in stamps]
    }
    return bundle, public_key_of(KEY)


def _signature(bundle: dict[str, Any]) -> bytes:
    return base64.b64decode(bundle["messageSignature"]["signature"])


def test_key_signed_bundle_counts_the_good_timestamp_and_reports_forged_ones(private: PrivateSigstore) -> None:
    bundle, key = _stamped(private, [])
    sig = _signature(bundle)
    when = START + dt.timedelta(days=1)
    good = private.tsa.stamp(sig, when)
    stamps = [private.tsa.stamp(b"another signature", when), good, private.rogue_tsa.stamp(sig, when)]
    bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"] = [
        {"signedTimestamp": base64.b64encode(s).decode()} for s in stamps
    ]
    result = verify_bundle(bundle, artifact=FILE, public_key=key, trusted_root=private.root)
    assert result.timestamps == (when,)
    assert [r.split(":")[0] for r in result.rejected_timestamps] == ["timestamp 0", "timestamp 2"]


@pytest.mark.parametrize(("count", "duplicate"), [(33, False), (2, True)])
def test_padding_and_duplicates_are_refused_before_any_is_verified(
    private: PrivateSigstore, count: int, duplicate: bool
) -> None:
    bundle, key = _stamped(private, [])
    sig = _signature(bundle)
    base = START + dt.timedelta(days=1)
    stamps = [private.tsa.stamp(sig, base + dt.timedelta(seconds=0 if duplicate else i)) for i in range(count)]
    if duplicate:
        stamps[1] = stamps[0]
    bundle["verificationMaterial"]["timestampVerificationData"] = {
        "rfc3161Timestamps": [{"signedTimestamp": base64.b64encode(s).decode()} for s in stamps]
    }
    with pytest.raises(VerificationError, match="duplicate" if duplicate else "too many"):
        verify_bundle(bundle, artifact=FILE, public_key=key, trusted_root=private.root)


def test_a_future_timestamp_is_not_a_time(private: PrivateSigstore) -> None:
    bundle, key = _stamped(private, [])
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    stamp = base64.b64encode(private.tsa.stamp(_signature(bundle), future)).decode()
    bundle["verificationMaterial"]["timestampVerificationData"] = {"rfc3161Timestamps": [{"signedTimestamp": stamp}]}
    result = verify_bundle(bundle, artifact=FILE, public_key=key, trusted_root=private.root)
    assert result.timestamps == () and "future" in result.rejected_timestamps[0]


def test_cli_reports_the_skipped_timestamp(cli: Cli) -> None:
    args = ["verify-bundle", "--bundle", str(shared_file(*TSA, "bundle.txt.sigstore")),
            "--trusted-root", str(shared_file(*TSA_ROOT)), "--certificate-identity-regexp", ".*",
            "--certificate-oidc-issuer-regexp", ".*", str(shared_file(*TSA_TEXT))]
    text = cli(*args)
    assert text.code == 0 and "skipped 1 RFC 3161 timestamp" in text.err
    doc = cli(*args, "--output", "json").json()
    assert len(doc["timestamps"]) == 1 and doc["rejectedTimestamps"][0].startswith("timestamp 1:")


def test_a_timestamp_that_is_not_one_is_a_corrupt_bundle(private: PrivateSigstore) -> None:
    """Skipping is for well-formed timestamps over something else; garbage fails closed."""
    bundle, key = _stamped(private, [b"\x30\x03\x02\x01\x00"])
    with pytest.raises(VerificationError, match="timestamp 0 does not parse"):
        verify_bundle(bundle, artifact=FILE, public_key=key, trusted_root=private.root)


# -- the rest of the table: each file with its project's own outcome ---------------------------

# (bundle, artifact, root, expected error or None); roots: "staging", "production"
SIGSTORE_PYTHON = [
    ("bundle.txt.sigstore", "bundle.txt", "staging", None),  # test_verifier_bundle_offline
    ("bundle_v3.txt.sigstore", "bundle_v3.txt", "staging", None),
    ("bundle_v3_alt.txt.sigstore", "bundle_v3_alt.txt", "staging", None),
    ("integration/bundle_v3.txt.sigstore", "integration/bundle_v3.txt", "staging", None),
    ("staging-rekor-v2.txt.sigstore.json", "staging-rekor-v2.txt", "staging", None),  # test_verifier_bundle_artifact
    ("bundle_cve_2022_36056.txt.sigstore", "bundle_cve_2022_36056.txt", "staging", "does not match this signature"),
    ("bundle_invalid_version.txt.sigstore", "bundle_invalid_version.txt", "staging", "unsupported bundle media type"),
    ("bundle_no_cert_v1.txt.sigstore", "bundle_no_cert_v1.txt", "staging", "certificate chain is empty"),
    ("bundle_no_log_entry.txt.sigstore", "bundle_no_log_entry.txt", "staging", "needs a transparency-log entry"),
    ("bundle_v3_no_signed_time.txt.sigstore.json", "bundle_v3_no_signed_time.txt", "production", "no verified time"),
    # upstream checks only its certificate policies; it verifies whole here
    ("bundle_v3_github.whl.sigstore", "bundle_v3_github.whl", "production", None),
]


@pytest.mark.parametrize("row", SIGSTORE_PYTHON, ids=[r[0] for r in SIGSTORE_PYTHON])
def test_sigstore_python_assets(row: tuple[str, str, str, str | None], staging: TrustedRoot,
                                production: TrustedRoot) -> None:
    bundle, artifact, root, error = row
    kwargs: dict[str, Any] = {
        "artifact": shared_file(*ASSETS, *artifact.split("/")).read_bytes(),
        "identity": ANYONE,
        "trusted_root": staging if root == "staging" else production,
    }
    data = shared_file(*ASSETS, *bundle.split("/")).read_bytes()
    if error is None:
        assert verify_bundle(data, **kwargs).subject
    else:
        with pytest.raises(VerificationError, match=error):
            verify_bundle(data, **kwargs)


def test_dsse_bundle_on_rekor_v2_verifies_by_its_subject(staging: TrustedRoot) -> None:
    """sigstore-python `test_verifier_bundle_dsse`: no artifact binding, the caller passes the subject's digest."""
    bundle = (*ASSETS, "a.dsse.staging-rekor-v2.txt.sigstore.json")
    digest = _subject_digest(*bundle, algorithm="sha256")
    assert verify_bundle(_json(*bundle), digest=digest, identity=ANYONE, trusted_root=staging).kind == "dsse"


def test_othername_san_is_the_identity_as_written() -> None:
    """sigstore-go `TestEntityWithOthernameSan`: `foo!oidc.local`, never `foo@oidc.local`."""
    data = (*GO, "pkg", "testing", "data")
    bundle = _json(*data, "bundles", "othername.sigstore.json")
    root = _root(*data, "trusted-roots", "scaffolding.json")
    digest = Digest("sha256", base64.b64decode(bundle["messageSignature"]["messageDigest"]["digest"]).hex())
    ok = verify_bundle(bundle, digest=digest, identity=Identity(subject="foo!oidc.local", issuer_regexp=".*"),
                       trusted_root=root)
    assert ok.subject == "foo!oidc.local"
    with pytest.raises(VerificationError, match="identity does not match"):
        verify_bundle(bundle, digest=digest, identity=Identity(subject="foo@oidc.local", issuer_regexp=".*"),
                      trusted_root=root)


def test_dsse_with_two_signatures_is_refused() -> None:
    """sigstore-go `TestSigstoreBundle2Sig` (ErrDSSEInvalidSignatureCount)."""
    data = (*GO, "pkg", "testing", "data")
    with pytest.raises(VerificationError, match="exactly one signature"):
        verify_bundle(_json(*data, "bundles", "dsse-2sigs.sigstore.json"), digest=Digest("sha256", "0" * 64),
                      identity=ANYONE, trusted_root=_root(*data, "trusted-roots", "public-good.json"))


def test_kubewarden_cosign3_bundle_verifies(production: TrustedRoot) -> None:
    """sigstore-rs `dsse_tlog_entry_accepts_real_fixture`: cosign 3's DSSE signature bundle."""
    bundle = ("realworld", "sigstore__sigstore-rs", "tests", "data", "bundle_v03.json")
    result = verify_bundle(_json(*bundle), digest=_subject_digest(*bundle, algorithm="sha256"), identity=ANYONE,
                           trusted_root=production)
    assert result.subject and "kubewarden-controller" in result.subject


@pytest.mark.parametrize(
    ("name", "loads"),
    [
        ("trusted_root/trustedroot.v1.json", True),
        ("trusted_root/trustedroot.v1.local_tlog_ed25519_rekor-tiles.json", True),
        ("trust_config/config.v1.json", True),
        ("trusted_root/trustedroot.badtype.json", False),
        ("trust_config/config.badtype.json", False),
    ],
)
def test_trusted_roots_and_trust_configs(name: str, loads: bool) -> None:
    if loads:
        assert _root(*ASSETS, *name.split("/")).tlogs
    else:
        with pytest.raises(TrustRootError):
            _root(*ASSETS, *name.split("/"))
