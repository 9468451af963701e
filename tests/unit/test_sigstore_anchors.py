"""Sigstore verification against upstream fixtures (slsa-verifier, cosign, Conforma) and
against material the tests forge: trust roots, identity policy, bundles, and cosign's
legacy keyless annotations.

Fixtures are read from `anchors/verify/` in the shared folder; its README gives every
expected outcome that is asserted here. Nothing reaches the network.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from slsacheck.errors import InputError, VerificationError
from slsacheck.models.digest import Digest
from slsacheck.signing.bundle import verify_bundle
from slsacheck.signing.cosign_material import verify_cosign_material
from slsacheck.signing.dsse import Envelope, pae
from slsacheck.signing.identity import Identity, certificate_identity
from slsacheck.signing.trust import (
    TrustedRoot,
    TrustRootError,
    load_trusted_root,
    trusted_root_from_json,
)
from slsacheck.signing.verify_sig import PublicKeyVerifier
from tests.support.env import shared_file

VERIFY = "anchors/verify"
PGI_ROOT = "sigstore__cosign__pkg__cosign__testdata__trusted_root_pgi.json"
SV_BUNDLES = "slsa-framework__slsa-verifier__verifiers__internal__gha__testdata__bundle__"
GHA = "https://token.actions.githubusercontent.com"
GENERATOR = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/"
SV_CONTAINER = (
    "slsa-framework__slsa-verifier__cli__slsa-verifier__testdata__gha_generic_container__v2.1.0__"
    "container_workflow_dispatch"
)
ATT_MANIFEST = "21454caf3a160dfbe6359f0501aa8401c6c0f2c7a8b71380ea21f8c4b48b64fe"
ATT_ENVELOPE = "e163b472f2e5d66e5a2a45e26e020c51a0d2da7dc8b567b31fc2ebfd33dbc33a"
CONFORMA = "conforma__cli__acceptance__image__testimage__blobs__sha256__"
SIG_MANIFEST = "4912946aa9657bed0670396e6b0862038a1294225fac21be92a3938e0c62abe4"
SIG_PAYLOAD = "34fd1134ae4557da320663d6f6fe314ed224ae94c066b67b547b68c5a6bf854f"
OCI_ATTESTATION = "sigstore__cosign__pkg__cosign__testdata__oci-attestation.sigstore.json"
OCI_SUBJECT = "732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
ANYONE = Identity(subject_regexp=".*", issuer_regexp=".*")


def _file(name: str) -> Path:
    return shared_file(VERIFY, name)


@pytest.fixture(scope="module")
def pgi() -> TrustedRoot:
    return load_trusted_root(_file(PGI_ROOT))


def _pgi_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(_file(PGI_ROOT).read_bytes())
    return doc


# -- slsa-verifier bundles -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "subject_digest", "workflow"),
    [
        ("valid", "975a0582b8c9607f3f20a6b8cfef01b25823e68c5c3658e6e1ccaaced2a3255d", "builder_docker-based_slsa3.yml"),
        (
            "valid-v0.3",
            "2892146b063a94cb4a4318c0e98d38af12dcf2b1e29237486b58463b59607bbd",
            "generator_generic_slsa3.yml",
        ),
    ],
)
def test_slsa_verifier_valid_bundles(pgi: TrustedRoot, name: str, subject_digest: str, workflow: str) -> None:
    identity = Identity(subject=f"{GENERATOR}{workflow}@refs/heads/main", issuer=GHA)
    result = verify_bundle(
        _file(f"{SV_BUNDLES}{name}.intoto.sigstore").read_bytes(),
        digest=Digest("sha256", subject_digest),
        identity=identity,
        trusted_root=pgi,
    )
    assert result.kind == "dsse"
    assert result.subject == f"{GENERATOR}{workflow}@refs/heads/main"
    assert result.issuer == GHA
    assert result.integrated_time is not None
    assert result.statement_json is not None


@pytest.mark.parametrize(
    ("name", "subject_digest", "reason"),
    [
        ("invalid-set", "092b220688ee737c66882a74ae8bfe3e2b35df60b92404b552ebe905a2d633ce", "signed entry timestamp"),
        ("mismatch-tlog", "2e38b952523576057f5ca8cf6d179ad6b66f6d0221b9a0eb621caf3507773c71", "does not match"),
    ],
)
def test_slsa_verifier_invalid_bundles(pgi: TrustedRoot, name: str, subject_digest: str, reason: str) -> None:
    with pytest.raises(VerificationError, match=reason):
        verify_bundle(
            _file(f"{SV_BUNDLES}{name}.intoto.sigstore").read_bytes(),
            digest=Digest("sha256", subject_digest),
            identity=ANYONE,
            trusted_root=pgi,
        )


# -- cosign's OCI attestation bundle ---------------------------------------------------


def test_cosign_oci_attestation_bundle(pgi: TrustedRoot) -> None:
    bundle = _file(OCI_ATTESTATION).read_bytes()
    result = verify_bundle(bundle, digest=Digest("sha256", OCI_SUBJECT), identity=ANYONE, trusted_root=pgi)
    assert (result.subject, result.issuer) == ("cody@soyland.com", "https://github.com/login/oauth")
    assert result.statement is not None
    assert result.statement.predicate_type == "https://cosign.sigstore.dev/attestation/v1"

    with pytest.raises(VerificationError, match="not a subject of the attestation"):
        verify_bundle(bundle, digest=Digest("sha256", "1" * 64), identity=ANYONE, trusted_root=pgi)
    with pytest.raises(VerificationError, match="identity does not match"):
        verify_bundle(
            bundle,
            digest=Digest("sha256", OCI_SUBJECT),
            identity=Identity(subject_regexp="nobody@example\\.com", issuer_regexp=".*"),
            trusted_root=pgi,
        )


# -- cosign legacy keyless: slsa-verifier's container .att ----------------------------


def _att() -> tuple[dict[str, Any], dict[str, str], bytes]:
    manifest = json.loads(_file(f"{SV_CONTAINER}__blobs__sha256__{ATT_MANIFEST}").read_bytes())
    layer = manifest["layers"][0]
    blob = _file(f"{SV_CONTAINER}__blobs__sha256__{ATT_ENVELOPE}").read_bytes()
    assert layer["digest"] == f"sha256:{hashlib.sha256(blob).hexdigest()}"
    return layer, layer["annotations"], blob


ATT_IDENTITY = Identity(subject=f"{GENERATOR}generator_container_slsa3.yml@refs/tags/v2.1.0", issuer=GHA)


def _verify_att(
    blob: bytes, annotations: dict[str, str], root: TrustedRoot, identity: Identity = ATT_IDENTITY, **kw: Any
) -> Any:
    envelope = Envelope.from_json(blob)
    return verify_cosign_material(
        envelope.signatures[0].sig,
        envelope.pae(),
        certificate_pem=annotations["dev.sigstore.cosign/certificate"].encode(),
        chain_pem=annotations["dev.sigstore.cosign/chain"].encode(),
        rekor_bundle=json.loads(annotations["dev.sigstore.cosign/bundle"])
        if annotations.get("dev.sigstore.cosign/bundle")
        else None,
        identity=identity,
        trusted_root=root,
        **kw,
    )


def test_container_att_verifies_offline(pgi: TrustedRoot) -> None:
    _, annotations, blob = _att()
    signer = _verify_att(blob, annotations, pgi)
    assert signer.subject == f"{GENERATOR}generator_container_slsa3.yml@refs/tags/v2.1.0"
    assert signer.issuer == GHA
    assert signer.log_id == base64.b64decode("wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0=").hex()
    statement = json.loads(Envelope.from_json(blob).payload)
    digest = _file(f"{SV_CONTAINER}.digest").read_text().strip()
    assert f"sha256:{statement['subject'][0]['digest']['sha256']}" == digest
    # the same check with the envelope handed over instead of recovering it from the PAE
    assert _verify_att(blob, annotations, pgi, envelope=Envelope.from_json(blob)).subject == signer.subject


def test_container_att_tampered_envelope_fails(pgi: TrustedRoot) -> None:
    _, annotations, blob = _att()
    doc = json.loads(blob)
    payload = bytearray(base64.b64decode(doc["payload"]))
    payload[100] ^= 0x01
    doc["payload"] = base64.b64encode(bytes(payload)).decode()
    with pytest.raises(VerificationError, match="does not verify"):
        _verify_att(json.dumps(doc).encode(), annotations, pgi)


@pytest.mark.parametrize("field", ["SignedEntryTimestamp", "integratedTime", "logIndex", "body"])
def test_container_att_tampered_set_fails(pgi: TrustedRoot, field: str) -> None:
    _, annotations, blob = _att()
    rekor = json.loads(annotations["dev.sigstore.cosign/bundle"])
    if field == "SignedEntryTimestamp":
        raw = bytearray(base64.b64decode(rekor[field]))
        raw[-5] ^= 0x01
        rekor[field] = base64.b64encode(bytes(raw)).decode()
    elif field == "body":
        body = json.loads(base64.b64decode(rekor["Payload"]["body"]))
        body["spec"]["payloadHash"] = {"algorithm": "sha256", "value": "0" * 64}
        rekor["Payload"]["body"] = base64.b64encode(json.dumps(body).encode()).decode()
    else:
        rekor["Payload"][field] += 1
    tampered = dict(annotations, **{"dev.sigstore.cosign/bundle": json.dumps(rekor)})
    with pytest.raises(VerificationError, match="signed entry timestamp"):
        _verify_att(blob, tampered, pgi)


def test_container_att_untrusted_ca_fails() -> None:
    _, annotations, blob = _att()
    doc = _pgi_doc()
    doc["certificateAuthorities"] = []
    without_fulcio = trusted_root_from_json(doc, source="pgi without Fulcio")
    with pytest.raises(VerificationError, match="no Fulcio certificate authority"):
        _verify_att(blob, annotations, without_fulcio)


def test_container_att_wrong_identity_fails(pgi: TrustedRoot) -> None:
    _, annotations, blob = _att()
    wrong = Identity(subject=f"{GENERATOR}generator_container_slsa3.yml@refs/tags/v2.0.0", issuer=GHA)
    with pytest.raises(VerificationError, match="identity does not match") as info:
        _verify_att(blob, annotations, pgi, identity=wrong)
    assert "@refs/tags/v2.1.0" in str(info.value.found)
    with pytest.raises(VerificationError, match="identity does not match"):
        _verify_att(
            blob, annotations, pgi, identity=Identity(subject_regexp=".*", issuer="https://accounts.google.com")
        )


def test_expired_certificate_without_a_set_fails(pgi: TrustedRoot) -> None:
    _, annotations, blob = _att()
    no_set = {k: v for k, v in annotations.items() if k != "dev.sigstore.cosign/bundle"}
    with pytest.raises(VerificationError, match="no Rekor bundle"):
        _verify_att(blob, no_set, pgi)
    # Told not to require the log, the only time left is now, when the certificate has long expired.
    with pytest.raises(VerificationError, match="does not chain to a trusted Fulcio CA") as info:
        _verify_att(blob, no_set, pgi, require_tlog=False)
    assert "not valid at validation time" in str(info.value.found)


def test_truncated_signature_fails(pgi: TrustedRoot) -> None:
    _, annotations, blob = _att()
    doc = json.loads(blob)
    doc["signatures"][0]["sig"] = doc["signatures"][0]["sig"][:-8]
    with pytest.raises(VerificationError, match="ECDSA signature is malformed"):
        _verify_att(json.dumps(doc).encode(), annotations, pgi)


# -- Conforma's .sig from a private Sigstore --------------------------------------------


def test_conforma_sig_needs_its_own_trust_root(pgi: TrustedRoot) -> None:
    manifest = json.loads(_file(CONFORMA + SIG_MANIFEST).read_bytes())
    layer = manifest["layers"][0]
    annotations = layer["annotations"]
    payload = _file(CONFORMA + SIG_PAYLOAD).read_bytes()
    assert layer["digest"] == f"sha256:{hashlib.sha256(payload).hexdigest()}"
    signature = base64.b64decode(annotations["dev.cosignproject.cosign/signature"])
    cert = x509.load_pem_x509_certificate(annotations["dev.sigstore.cosign/certificate"].encode())
    PublicKeyVerifier(cert.public_key()).verify(signature, payload)  # type: ignore[arg-type]
    assert certificate_identity(cert) == (
        "https://kubernetes.io/namespaces/default/serviceaccounts/default",
        "https://kubernetes.default.svc.cluster.local",
    )

    def run(**kw: Any) -> Any:
        return verify_cosign_material(
            signature,
            payload,
            certificate_pem=annotations["dev.sigstore.cosign/certificate"].encode(),
            chain_pem=annotations["dev.sigstore.cosign/chain"].encode(),
            identity=ANYONE,
            trusted_root=pgi,
            **kw,
        )

    with pytest.raises(VerificationError, match="from a log the trust root does not know"):
        run(rekor_bundle=json.loads(annotations["dev.sigstore.cosign/bundle"]))
    # Its CA is not trusted either, even though the chain annotation carries it.
    with pytest.raises(VerificationError, match="does not chain to a trusted Fulcio CA"):
        run(rekor_bundle=None, require_tlog=False)


# -- forged material: a CA of our own ---------------------------------------------------


def _fulcio_like(*, issuer_ext: bytes, issuer_oid: str = "1.3.6.1.4.1.57264.1.8") -> tuple[bytes, bytes, Any]:
    """A self-made root and a leaf shaped like a Fulcio certificate: (leaf PEM, root PEM, leaf key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sigstore")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(minutes=5))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(f"{GENERATOR}generator_container_slsa3.yml@refs/tags/v2.1.0")]
            ),
            critical=True,
        )
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(issuer_oid), issuer_ext), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return leaf.public_bytes(pem), ca.public_bytes(pem), key


def test_certificate_from_untrusted_ca_fails(pgi: TrustedRoot) -> None:
    leaf_pem, root_pem, key = _fulcio_like(issuer_ext=b"\x0c" + bytes([len(GHA)]) + GHA.encode())
    payload = b'{"critical":{}}'
    signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    # the attacker's root rides along in the chain annotation: it must never become an anchor
    with pytest.raises(VerificationError, match="does not chain to a trusted Fulcio CA"):
        verify_cosign_material(
            signature,
            payload,
            certificate_pem=leaf_pem,
            chain_pem=root_pem,
            rekor_bundle=None,
            identity=ATT_IDENTITY,
            trusted_root=pgi,
            require_tlog=False,
        )
    # and the identity it claims is read correctly (it is only the CA that is wrong)
    leaf = x509.load_pem_x509_certificate(leaf_pem)
    assert certificate_identity(leaf) == (f"{GENERATOR}generator_container_slsa3.yml@refs/tags/v2.1.0", GHA)
    # Control: the very same material verifies once a trust root names that CA.
    doc = _pgi_doc()
    root_der = x509.load_pem_x509_certificate(root_pem).public_bytes(serialization.Encoding.DER)
    doc["certificateAuthorities"] = [
        {
            "certChain": {"certificates": [{"rawBytes": base64.b64encode(root_der).decode()}]},
            "validFor": {"start": "2020-01-01T00:00:00Z"},
        }
    ]
    doc["ctlogs"] = []
    trusting = trusted_root_from_json(doc, source="trusts the test CA")
    signer = verify_cosign_material(
        signature,
        payload,
        certificate_pem=leaf_pem,
        chain_pem=None,
        rekor_bundle=None,
        identity=ATT_IDENTITY,
        trusted_root=trusting,
        require_tlog=False,
    )
    assert signer.subject == ATT_IDENTITY.subject


def test_legacy_issuer_extension() -> None:
    leaf_pem, _, _ = _fulcio_like(issuer_ext=b"https://accounts.google.com", issuer_oid="1.3.6.1.4.1.57264.1.1")
    leaf = x509.load_pem_x509_certificate(leaf_pem)
    assert certificate_identity(leaf)[1] == "https://accounts.google.com"
    Identity(subject_regexp=".*", issuer="https://accounts.google.com").verify(leaf)


# -- bundles: truncated signatures, keys, identity policy, trust roots -----------------


def _conformance_bundle(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        shared_file("conformance/test/assets/bundle-verify", name, "bundle.sigstore.json").read_bytes()
    )
    return doc


def test_truncated_bundle_signature_fails() -> None:
    root = load_trusted_root(shared_file("conformance/_offline_extras/production_trusted_root.json"))
    artifact = shared_file("conformance/test/assets/bundle-verify/a.txt").read_bytes()
    identity = Identity(
        subject="https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/"
        "extremely-dangerous-oidc-beacon.yml@refs/heads/main",
        issuer=GHA,
    )
    good = _conformance_bundle("happy-path-v0.3")
    assert verify_bundle(good, artifact=artifact, identity=identity, trusted_root=root).kind == "message"
    for cut, reason in ((8, "bundle signature: the ECDSA signature is malformed"), (3, "not valid base64")):
        bad = copy.deepcopy(good)
        bad["messageSignature"]["signature"] = good["messageSignature"]["signature"][:-cut]
        with pytest.raises(VerificationError, match=reason):
            verify_bundle(bad, artifact=artifact, identity=identity, trusted_root=root)


def test_dsse_payload_type_changed_fails() -> None:
    root = load_trusted_root(shared_file("conformance/_offline_extras/production_trusted_root.json"))
    good = _conformance_bundle("happy-path-intoto-in-dsse-v3")
    statement = json.loads(base64.b64decode(good["dsseEnvelope"]["payload"]))
    digest = Digest("sha256", statement["subject"][0]["digest"]["sha256"])
    bad = copy.deepcopy(good)
    bad["dsseEnvelope"]["payloadType"] = "application/json"
    with pytest.raises(VerificationError, match="does not verify"):
        verify_bundle(bad, digest=digest, identity=ANYONE, trusted_root=root)


def test_bundle_needs_material_that_matches_the_mode(pgi: TrustedRoot) -> None:
    bundle = _file(OCI_ATTESTATION).read_bytes()
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(VerificationError, match="signed keyless"):
        verify_bundle(bundle, digest=Digest("sha256", OCI_SUBJECT), public_key=key, trusted_root=pgi)
    with pytest.raises(InputError, match="needs an identity and a trust root"):
        verify_bundle(bundle, digest=Digest("sha256", OCI_SUBJECT), trusted_root=pgi)
    with pytest.raises(InputError, match="not both"):
        verify_bundle(bundle, digest=Digest("sha256", OCI_SUBJECT), public_key=key, identity=ANYONE, trusted_root=pgi)
    with pytest.raises(InputError, match="artifact or its digest"):
        verify_bundle(bundle, identity=ANYONE, trusted_root=pgi)


def test_key_bundle_roundtrip_and_wrong_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    artifact = b"hello, sigstore\n"
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": base64.b64encode(hashlib.sha256(der).digest()).decode()}},
        "messageSignature": {
            "messageDigest": {
                "algorithm": "SHA2_256",
                "digest": base64.b64encode(hashlib.sha256(artifact).digest()).decode(),
            },
            "signature": base64.b64encode(key.sign(artifact, ec.ECDSA(hashes.SHA256()))).decode(),
        },
    }
    result = verify_bundle(bundle, artifact=artifact, public_key=key.public_key())
    assert result.key_fingerprint == hashlib.sha256(der).hexdigest()
    assert verify_bundle(bundle, digest=Digest.of(artifact), public_key=key.public_key()).kind == "message"
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(VerificationError, match="does not verify"):
        verify_bundle(bundle, artifact=artifact, public_key=other)
    with pytest.raises(VerificationError, match="message digest is not the artifact's"):
        verify_bundle(bundle, artifact=b"another artifact", public_key=key.public_key())
    with pytest.raises(VerificationError, match="signed with a key"):
        verify_bundle(bundle, artifact=artifact, identity=ANYONE, trusted_root=load_trusted_root(_file(PGI_ROOT)))


def test_identity_policy_is_full_match_and_never_empty() -> None:
    ident = Identity(subject_regexp="https://github\\.com/org/.*", issuer=GHA)
    assert ident.matches("https://github.com/org/repo/.github/workflows/x.yml@refs/heads/main", GHA)
    assert not ident.matches("https://evil.example/https://github.com/org/x", GHA)
    assert not ident.matches("https://github.com/org/x", GHA + "/")
    assert not Identity(subject="a@b.c", issuer_regexp=".*").matches("a@b.c.evil", GHA)
    assert not Identity(subject_regexp="a@b", issuer_regexp=".*").matches("a@b.c", GHA)
    with pytest.raises(InputError, match="needs a subject"):
        Identity(issuer=GHA)
    with pytest.raises(InputError, match="needs an OIDC issuer"):
        Identity(subject="a@b.c")
    with pytest.raises(InputError, match="invalid subject regexp"):
        Identity(subject_regexp="(", issuer=GHA)


def test_trust_root_errors(tmp_path: Path) -> None:
    doc = _pgi_doc()
    del doc["tlogs"][0]["publicKey"]["validFor"]["start"]
    with pytest.raises(TrustRootError, match=r"tlogs\[0\].publicKey: validFor.start missing"):
        trusted_root_from_json(doc, source="t.json")
    bad = tmp_path / "root.json"
    bad.write_text("{not json")
    with pytest.raises(TrustRootError, match="not JSON"):
        load_trusted_root(bad)
    bad.write_text(json.dumps({"mediaType": "application/json"}))
    with pytest.raises(TrustRootError, match="unsupported trusted root media type"):
        load_trusted_root(bad)
    with pytest.raises(TrustRootError, match="cannot read"):
        load_trusted_root(tmp_path / "absent.json")


def test_trust_config_holds_a_trusted_root(tmp_path: Path) -> None:
    config = {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": _pgi_doc(),
        "signingConfig": {"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json"},
    }
    path = tmp_path / "trust_config.json"
    path.write_text(json.dumps(config))
    root = load_trusted_root(path)
    assert root.tlog(base64.b64decode("wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0=")) is not None
    assert len(root.certificate_authorities) == 2
    assert root.timestamp_authorities == ()


def test_pae_is_what_the_att_layer_signs() -> None:
    _, _, blob = _att()
    envelope = Envelope.from_json(blob)
    assert envelope.pae() == pae(envelope.payload_type, envelope.payload)


def test_othername_username_subject() -> None:
    from slsacheck.signing.identity import OID_OTHERNAME_SAN, certificate_subjects

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")]))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
        .add_extension(
            x509.SubjectAlternativeName([x509.OtherName(x509.ObjectIdentifier(OID_OTHERNAME_SAN), b"\x0c\x05alice")]),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    assert certificate_subjects(cert) == ["alice"]
    assert certificate_identity(cert) == ("alice", None)
    with pytest.raises(VerificationError, match="identity does not match"):
        Identity(subject="alice", issuer_regexp=".*").verify(cert)  # no issuer extension: never matches
