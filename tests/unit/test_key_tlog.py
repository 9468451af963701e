"""Key-signed evidence that carries a transparency-log entry (`cosign sign --key` logs to
Rekor by default): a key authority's optional trusted root and its tlog rule (require /
verify / ignore) apply the same to bundles and to cosign's `.sig`/`.att` layers, and the
signer says whether the evidence was log-checked.

Real data: npm's publish attestation (sigstore-go `examples/bundle-publish.json`, signed by
the registry's key, logged as intoto 0.0.2) and sigstore-go's key-signed bundle with an
RFC 3161 timestamp only. Layers are built with the private Sigstore's Rekor key.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from slsacheck.attach.candidates import BundleReferrer, LayerMaterial, TagAttestation, TagSignature
from slsacheck.errors import InputError, VerificationError
from slsacheck.models.descriptor import Descriptor
from slsacheck.models.digest import Digest
from slsacheck.models.evidence import Evidence, SignerInfo, VerifiedSignature
from slsacheck.models.mediatypes import DSSE_ENVELOPE, SIGSTORE_BUNDLE_V03, SIMPLE_SIGNING
from slsacheck.models.verdict import Outcome
from slsacheck.policy.authority import KeyAuthority
from slsacheck.policy.evaluate import evaluate
from slsacheck.policy.explain import explain_policy
from slsacheck.policy.load import load_policies
from slsacheck.policy.problems import PolicyLoadError
from slsacheck.signing.bundle import verify_bundle
from slsacheck.signing.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, Signature, pae
from slsacheck.signing.keys import load_public_key
from slsacheck.signing.tlog_rule import TlogRule
from slsacheck.signing.trust import load_trusted_root
from slsacheck.verify.authorities import Refused, TrustRoots, check
from tests.support.cli import Cli, cli
from tests.support.env import shared_file
from tests.support.private_sigstore import (
    PEM,
    SPKI,
    START,
    PrivateSigstore,
    hashedrekord,
    intoto_v001,
    make_private_sigstore,
    signer_pem,
)

__all__ = ["cli"]  # a fixture, imported so pytest finds it here

GO = ("realworld", "sigstore__sigstore-go", "examples")
PUBLISH = (*GO, "bundle-publish.json")
PUBLISH_KEY = (*GO, "publish_key.pub")
PUBLIC_GOOD = (*GO, "trusted-root-public-good.json")


def _publish() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(shared_file(*PUBLISH).read_text())
    return doc


def _publish_digest() -> Digest:
    statement = json.loads(base64.b64decode(_publish()["dsseEnvelope"]["payload"]))
    return Digest("sha512", statement["subject"][0]["digest"]["sha512"])


def _verify_publish(bundle: dict[str, Any], *, root: bool, tlog: TlogRule) -> Any:
    return verify_bundle(
        bundle,
        digest=_publish_digest(),
        public_key=load_public_key(shared_file(*PUBLISH_KEY).read_bytes()),
        trusted_root=load_trusted_root(shared_file(*PUBLIC_GOOD)) if root else None,
        tlog=tlog,
    )


# -- bundles ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("root", "tlog", "verified", "unchecked"),
    [
        (True, "require", 1, 0),
        (True, "verify", 1, 0),
        (False, "verify", 0, 1),  # the key alone; the result says the entry was not checked
        (True, "ignore", 0, 1),
        (False, "ignore", 0, 1),
    ],
)
def test_npm_publish_bundle_follows_the_tlog_rule(root: bool, tlog: TlogRule, verified: int, unchecked: int) -> None:
    result = _verify_publish(_publish(), root=root, tlog=tlog)
    assert (result.tlog_entries, result.tlog_unchecked) == (verified, unchecked)
    assert (result.integrated_time is not None) == bool(verified)


def test_require_without_a_trust_root_is_a_usage_error() -> None:
    with pytest.raises(InputError, match="`require` needs a trust root"):
        _verify_publish(_publish(), root=False, tlog="require")


@pytest.mark.parametrize("tlog", ["require", "verify"])
def test_a_forged_entry_is_refused_whenever_the_log_is_checked(tlog: TlogRule) -> None:
    bundle = copy.deepcopy(_publish())
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    entry["integratedTime"] = str(int(entry["integratedTime"]) + 3600)
    entry.pop("inclusionProof")
    with pytest.raises(VerificationError, match="SET"):
        _verify_publish(bundle, root=True, tlog=tlog)
    # ignore: the key alone decides, on purpose, and the result says nothing was log-checked
    assert _verify_publish(bundle, root=True, tlog="ignore").tlog_unchecked == 1


def test_require_refuses_a_key_bundle_without_an_entry() -> None:
    """sigstore-go's key-signed bundle with an RFC 3161 timestamp and no tlog entry."""
    data = ("realworld", "sigstore__sigstore-go", "pkg", "testing", "data")
    kwargs: dict[str, Any] = {
        "artifact": b"test content",
        "public_key": load_public_key(shared_file(*data, "public-keys", "public-key-validity.pem").read_bytes()),
        "trusted_root": load_trusted_root(shared_file(*data, "trusted-roots", "public-key-validity.json")),
    }
    bundle = shared_file(*data, "bundles", "public-key-validity.sigstore.json").read_bytes()
    assert verify_bundle(bundle, tlog="verify", **kwargs).timestamps  # upstream: valid over "test content"
    with pytest.raises(VerificationError, match="no transparency-log entry, and the rule requires one"):
        verify_bundle(bundle, tlog="require", **kwargs)


def test_authority_with_a_trusted_root_log_checks_a_bundle_referrer(tmp_path: Path) -> None:
    key_pem = shared_file(*PUBLISH_KEY).read_bytes()
    bundle = _publish()
    layer = Descriptor.of(json.dumps(bundle).encode(), SIGSTORE_BUNDLE_V03)
    candidate = BundleReferrer("attestation", "referrer sha256:" + "1" * 64, layer, bundle, None)
    digest = _publish_digest()
    checked = check(candidate, KeyAuthority("npm", (key_pem,), shared_file(*PUBLIC_GOOD), "require"), digest,
                    roots=TrustRoots())
    assert checked.signer.tlog and checked.signer.integrated_time is not None
    # Before: a key authority without a root refused this bundle; now it is judged by the key alone.
    unchecked = check(candidate, KeyAuthority("npm", (key_pem,)), digest, roots=TrustRoots())
    assert not unchecked.signer.tlog and unchecked.statement is not None


# -- cosign layers with a dev.sigstore.cosign/bundle annotation --------------------------------

SIGNED_AT = START + dt.timedelta(days=30)
IMAGE = Digest("sha256", "d" * 64)
PAYLOAD = (
    b'{"critical":{"identity":{"docker-reference":"r.example/app"},"image":{"docker-manifest-digest":"'
    + str(IMAGE).encode() + b'"},"type":"cosign container image signature"},"optional":null}'
)


@pytest.fixture(scope="module")
def sigstore() -> PrivateSigstore:
    return make_private_sigstore()


@pytest.fixture(scope="module")
def root_path(sigstore: PrivateSigstore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("root") / "trusted_root.json"
    path.write_text(json.dumps(sigstore.doc))
    return path


KEY = ec.generate_private_key(ec.SECP256R1())
OTHER = ec.generate_private_key(ec.SECP256R1())
KEY_PEM = KEY.public_key().public_bytes(PEM, SPKI)


def _sig_layer(sigstore: PrivateSigstore, *, logged_by: ec.EllipticCurvePrivateKey | None = KEY) -> TagSignature:
    signature = KEY.sign(PAYLOAD, ec.ECDSA(hashes.SHA256()))
    rekor = None
    if logged_by is not None:
        rekor = sigstore.rekor_set(hashedrekord(signature, PAYLOAD, logged_by.public_key()), SIGNED_AT)
    return _tag_signature(signature, rekor)


def _tag_signature(signature: bytes, rekor: dict[str, Any] | None) -> TagSignature:
    return TagSignature("test .sig layer 0", Descriptor.of(PAYLOAD, SIMPLE_SIGNING), PAYLOAD, signature,
                        LayerMaterial(rekor_bundle=rekor))


def _authority(root: Path | None, tlog: TlogRule) -> KeyAuthority:
    return KeyAuthority("release", (KEY_PEM,), root, tlog)


@pytest.mark.parametrize(("with_root", "tlog", "logged"), [(True, "require", True), (True, "verify", True),
                                                          (False, "verify", False), (True, "ignore", False)])
def test_key_signed_sig_layer_with_a_set(
    sigstore: PrivateSigstore, root_path: Path, with_root: bool, tlog: TlogRule, logged: bool
) -> None:
    accepted = check(_sig_layer(sigstore), _authority(root_path if with_root else None, tlog), IMAGE,
                     roots=TrustRoots())
    assert accepted.signer.tlog is logged
    assert accepted.signer.integrated_time == (SIGNED_AT if logged else None)


def test_key_signed_sig_layer_without_a_set(sigstore: PrivateSigstore, root_path: Path) -> None:
    layer = _sig_layer(sigstore, logged_by=None)
    assert check(layer, _authority(root_path, "verify"), IMAGE, roots=TrustRoots()).signer.tlog is False
    with pytest.raises(Refused, match="requires one"):
        check(layer, _authority(root_path, "require"), IMAGE, roots=TrustRoots())


@pytest.mark.parametrize("tlog", ["require", "verify"])
def test_a_set_for_another_key_is_refused_when_the_log_is_checked(
    sigstore: PrivateSigstore, root_path: Path, tlog: TlogRule
) -> None:
    """The entry logs the same signature bytes under the attacker's key: it vouches for nothing."""
    with pytest.raises(Refused, match="another certificate or public key"):
        check(_sig_layer(sigstore, logged_by=OTHER), _authority(root_path, tlog), IMAGE, roots=TrustRoots())


@pytest.mark.parametrize("tlog", ["require", "verify"])
def test_a_set_naming_a_certificate_for_the_same_key_is_refused(
    sigstore: PrivateSigstore, root_path: Path, tlog: TlogRule
) -> None:
    """The entry names a certificate (here self-issued over the very key that signed) where a
    key-signed layer's entry names the key: the log vouched for a certificate's signer, never
    for the bare key, so the entry does not count for the key authority."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "key holder")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(KEY.public_key())
            .serial_number(7).not_valid_before(START).not_valid_after(START + dt.timedelta(days=365))
            .sign(KEY, hashes.SHA256()))
    signature = KEY.sign(PAYLOAD, ec.ECDSA(hashes.SHA256()))
    rekor = sigstore.rekor_set(hashedrekord(signature, PAYLOAD, cert), SIGNED_AT)
    with pytest.raises(Refused, match="another certificate or public key"):
        check(_tag_signature(signature, rekor), _authority(root_path, tlog), IMAGE, roots=TrustRoots())


def test_a_set_from_a_log_outside_the_root_is_refused(sigstore: PrivateSigstore, root_path: Path) -> None:
    rogue = make_private_sigstore()
    signature = KEY.sign(PAYLOAD, ec.ECDSA(hashes.SHA256()))
    layer = _tag_signature(signature, rogue.rekor_set(hashedrekord(signature, PAYLOAD, KEY.public_key()), SIGNED_AT))
    with pytest.raises(Refused, match="log the trust root does not know"):
        check(layer, _authority(root_path, "verify"), IMAGE, roots=TrustRoots())


def test_key_signed_att_layer_logged_as_intoto(sigstore: PrivateSigstore, root_path: Path) -> None:
    statement = json.dumps({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "r.example/app", "digest": {"sha256": IMAGE.hex}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {},
    }).encode()
    sig = KEY.sign(pae(IN_TOTO_PAYLOAD_TYPE, statement), ec.ECDSA(hashes.SHA256()))
    envelope = Envelope(IN_TOTO_PAYLOAD_TYPE, statement, (Signature("", sig),))
    blob = envelope.to_json()

    def layer(logged_blob: bytes) -> TagAttestation:
        body = intoto_v001(logged_blob, statement, signer_pem(KEY.public_key()))
        return TagAttestation("test .att layer 0", Descriptor.of(blob, DSSE_ENVELOPE), json.loads(blob), blob, None,
                              LayerMaterial(rekor_bundle=sigstore.rekor_set(body, SIGNED_AT)))

    accepted = check(layer(blob), _authority(root_path, "require"), IMAGE, roots=TrustRoots())
    assert accepted.signer.tlog and accepted.statement is not None
    with pytest.raises(Refused, match="logs another envelope"):
        check(layer(blob + b" "), _authority(root_path, "require"), IMAGE, roots=TrustRoots())


# -- the policy file ----------------------------------------------------------------------------

POLICY = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata: {{name: keys}}
spec:
  images: {{include: ["**"]}}
  authorities:
    - name: release
      key: {key}
  signatures: {{authorities: [release], threshold: 1}}
"""


def _load(tmp_path: Path, key: str) -> Any:
    (tmp_path / "release.pub").write_bytes(KEY_PEM)
    (tmp_path / "root.json").write_text(json.dumps(make_private_sigstore().doc))
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(key=key))
    return load_policies([path]).policies[0]


def test_policy_key_with_trusted_root_and_rule(tmp_path: Path) -> None:
    policy = _load(tmp_path, "{file: release.pub, trustedRoot: root.json, tlog: require}")
    authority = policy.authorities["release"]
    assert isinstance(authority, KeyAuthority)
    assert authority.tlog == "require" and authority.trusted_root == (tmp_path / "root.json").resolve()
    default = _load(tmp_path, "{file: release.pub}").authorities["release"]
    assert (default.trusted_root, default.tlog) == (None, "verify")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("{file: release.pub, tlog: require}", "tlog: require needs a trusted root"),
        ("{file: release.pub, pem: x}", "exactly one of `file`, `pem` or `env`"),
        ("{file: release.pub, tlog: sometimes}", "tlog"),
        ("{file: release.pub, trustedRoot: missing.json}", "cannot read trusted root"),
        ("{trustedRoot: root.json}", "exactly one of `file`, `pem` or `env`"),
    ],
)
def test_policy_key_rule_mistakes_are_load_errors(tmp_path: Path, key: str, message: str) -> None:
    with pytest.raises(PolicyLoadError, match=message):
        _load(tmp_path, key)


def test_evaluation_does_not_count_an_unlogged_signature_for_a_require_authority(tmp_path: Path) -> None:
    policy = _load(tmp_path, "{file: release.pub, trustedRoot: root.json, tlog: require}")

    def outcome(tlog: bool) -> Any:
        signer = SignerInfo("key", key_fingerprint="ab" * 32, tlog=tlog)
        evidence = Evidence("r.example/app@" + str(IMAGE), IMAGE, (VerifiedSignature("release", signer, "x"),))
        return {c.id: c for c in evaluate(policy, evidence, now=dt.datetime.now(dt.UTC))}["signatures.threshold"]

    assert outcome(True).outcome is Outcome.PASS
    failed = outcome(False)
    assert failed.outcome is Outcome.FAIL and "tlog: require" in (failed.found or "")


def test_cli_tlog_rule(cli: Cli) -> None:
    args = ["verify-bundle", "--bundle", str(shared_file(*PUBLISH)), "--key", str(shared_file(*PUBLISH_KEY)),
            "--output", "json"]
    digest = str(_publish_digest())
    unchecked = cli(*args, digest)
    assert unchecked.code == 0 and unchecked.json()["tlogEntriesUnchecked"] == 1
    assert "not checked (no --trusted-root)" in unchecked.err
    checked = cli(*args, "--trusted-root", str(shared_file(*PUBLIC_GOOD)), "--tlog", "require", digest)
    assert checked.code == 0 and checked.json()["tlogEntriesVerified"] == 1
    refused = cli(*args, "--tlog", "require", digest)
    assert refused.code == 2 and "needs a trust root" in refused.err


def test_policy_explain_says_the_tlog_rule(tmp_path: Path) -> None:
    required = _load(tmp_path, "{file: release.pub, trustedRoot: root.json, tlog: require}")
    assert "a transparency-log entry required" in explain_policy(required)
    assert "transparency-log entries ignored" in explain_policy(_load(tmp_path, "{file: release.pub, tlog: ignore}"))
    assert "release (public key: 1)" in explain_policy(_load(tmp_path, "{file: release.pub}"))


def test_cli_tlog_rule_is_for_keys_only(cli: Cli) -> None:
    root = shared_file("realworld", "sigstore__sigstore-python", "roots", "production_trusted_root.json")
    run = cli("verify-bundle", "--bundle", str(shared_file(*PUBLISH)), "--trusted-root", str(root),
              "--certificate-identity-regexp", ".*", "--certificate-oidc-issuer-regexp", ".*", "--tlog", "ignore",
              str(_publish_digest()))
    assert run.code == 2 and "applies to key-signed bundles" in run.err
    run = cli("verify", "--certificate-identity-regexp", ".*", "--certificate-oidc-issuer-regexp", ".*",
              "--trusted-root", str(root), "--tlog", "ignore", "oci:/nonexistent@sha256:" + "a" * 64)
    assert run.code == 2 and "applies to --key" in run.err
