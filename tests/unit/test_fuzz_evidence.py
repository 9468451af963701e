"""Seeded, bounded fuzzing of every place untrusted evidence enters: manifests, DSSE
envelopes, Sigstore bundles, certificates (cosign `.sig` material and bundles) and
AdmissionReviews, then the whole gate through the CLI.

Each target starts from a VALID document, checked to be accepted, and mutates it (byte
flips, truncation, a value somewhere replaced by junk: deep nesting, huge numbers,
wrong types, a duplicated key). For every case:

- no exception other than slsacheck's own `Error` escapes (no traceback);
- no case hangs: each runs under a generous alarm that only a hang can reach;
- what is accepted after mutation still carries exactly the signed content of the
  original (an accepted bundle has the original signature and payload, an accepted
  envelope parses to the original one); anything else is refused;
- through the CLI, a verification whose only evidence is mutated exits 1, 2 or 3 unless
  the mutation left the signed content as it was.

The seed is fixed so that a failure reproduces; `SLSACHECK_FUZZ_SEED` picks another.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import random
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from slsacheck._json import parse
from slsacheck.admission.review import images_of, parse_review
from slsacheck.attach import cosign_tags as ct
from slsacheck.attach.referrers import bundle_artifact, push_bundle
from slsacheck.attach.sign import attest_image, sign_image
from slsacheck.errors import Error
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Manifest
from slsacheck.models.reference import ImageRef
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from slsacheck.signing import _bundle_doc
from slsacheck.signing.bundle import verify_bundle
from slsacheck.signing.cosign_material import verify_cosign_material
from slsacheck.signing.dsse import Envelope
from slsacheck.signing.keys import load_public_key
from tests.support.cli import Run, cli
from tests.support.gate_scenarios import KeyPair, key_pair
from tests.support.policy_evidence import key_policy
from tests.support.private_sigstore import IDENTITY, START, PrivateSigstore, hashedrekord, make_private_sigstore

__all__ = ["cli"]  # the fixture, imported for pytest

SEED = int(os.environ.get("SLSACHECK_FUZZ_SEED", "20261205"))
CASES = 60  # per target
HANG_SECONDS = 30  # per case: far above any real case, only a hang reaches it
CUSTOM = "https://cosign.sigstore.dev/attestation/v1"
PAYLOAD = b'{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"sha256:' + \
    b"0" * 64 + b'"},"type":"cosign container image signature"},"optional":null}'

class Raw(str):
    """Junk written as raw JSON text: nesting too deep for Python to build or serialise."""


_MARK = "\u0000raw\u0000"
JUNK: tuple[Callable[[random.Random], Any], ...] = (
    lambda r: Raw("[" * 5000 + "]" * 5000),
    lambda r: Raw('{"a":' * 2000 + "0" + "}" * 2000),
    lambda r: Raw("1" * 5000),
    lambda r: json.loads("[" * 150 + "]" * 150),
    lambda r: {"a": json.loads("[" * 120 + "]" * 120)},
    lambda r: None,
    lambda r: r.choice([0, -1, 2**63, 10**30, 1e308, True, False]),
    lambda r: r.choice(["", "x", "!!!", "AAAA", "=" * 5, "\u2028", "\ud800"]),
    lambda r: "A" * r.randint(1, 70_000),
    lambda r: [],
    lambda r: {},
    lambda r: [{} for _ in range(r.randint(1, 50))],
)


@contextlib.contextmanager
def hang_guard() -> Iterator[None]:
    def alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"a case ran {HANG_SECONDS} s: a hang")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(HANG_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _paths(child, (*path, i))


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


def _dumps(value: Any, raw: Raw | None = None) -> bytes:
    text = json.dumps(value, separators=(",", ":"))
    return (text.replace(json.dumps(_MARK), raw) if raw is not None else text).encode()


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One mutation of `data`; JSON-aware when `data` is JSON."""
    try:
        doc = json.loads(data)
    except ValueError:
        doc = None
    choice = rng.randrange(6 if doc is not None else 3)
    if choice == 0 and data:  # flip bytes
        out = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            out[rng.randrange(len(out))] ^= rng.randint(1, 255)
        return bytes(out)
    if choice == 1:  # truncate
        return data[: rng.randrange(len(data) + 1)]
    if choice == 2:  # insert junk bytes
        at = rng.randrange(len(data) + 1)
        return data[:at] + rng.choice([b"[" * 5000, b"{", b"\x00\xff", b'"', b",", b"1" * 5000]) + data[at:]
    if choice in (3, 4):  # a value somewhere replaced by junk
        path = rng.choice(list(_paths(doc)))
        junk = rng.choice(JUNK)(rng)
        if isinstance(junk, Raw):
            return _dumps(_replace(doc, path, _MARK), junk)
        return _dumps(_replace(doc, path, junk))
    # a key of some object written twice, the second time with junk
    text = data.decode("utf-8", "replace")
    keys = [p[-1] for p in _paths(doc) if p and isinstance(p[-1], str)]
    if not keys or not text.endswith("}"):
        return data + b"x"
    junk = rng.choice(JUNK)(rng)
    value = junk if isinstance(junk, Raw) else json.dumps(junk)
    return (text[:-1] + f',"{rng.choice(keys)}":{value}' + "}").encode()


def run_cases(name: str, original: bytes, check: Callable[[bytes], None]) -> None:
    check(original)  # the valid document is accepted: the mutations start from something real
    rng = random.Random(f"{SEED}/{name}")
    for i in range(CASES):
        case = mutate(rng, original)
        with hang_guard():
            try:
                check(case)
            except Error:
                pass
            except Exception as exc:
                pytest.fail(f"{name} case {i} (seed {SEED}): {type(exc).__name__}: {exc!s:.300}\n"
                            f"input: {case[:300]!r}")


# -- documents ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key() -> KeyPair:
    return key_pair()


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory, key: KeyPair) -> tuple[LayoutStore, ImageRef, Path]:
    """A layout image with a legacy signature and attestation and a bundle attestation."""
    root = tmp_path_factory.mktemp("fuzz")
    store = LayoutStore(root / "layout", create=True)
    scratch.push(store, scratch.image({"/app": b"fuzz"}), tag="v1")
    ref = ImageRef.parse(f"oci:{root / 'layout'}:v1")
    sign_image(store, ref, key.signer, fmt="legacy")
    attest_image(store, ref, key.signer, predicate_type=CUSTOM, predicate={"ok": True}, fmt="both")
    (root / "release.pub").write_bytes(key.public_pem)
    (root / "policy.yaml").write_text(key_policy("fuzz", [f"oci:{root / 'layout'}"], key=root / "release.pub"))
    return store, ref, root


def _layer_blob(store: LayoutStore, tag: str) -> tuple[bytes, dict[str, str]]:
    layer = store.fetch_manifest(tag).layers[0]
    return store.fetch_blob(layer), dict(layer.annotations)


def _bundle(store: LayoutStore, ref: ImageRef) -> bytes:
    digest = store.fetch_manifest(ref.identifier).digest
    referrer = store.referrers(digest, artifact_type=mt.SIGSTORE_BUNDLE_V03)[0]
    return store.fetch_blob(store.fetch_manifest(str(referrer.digest)).layers[0])


def test_manifests(image: tuple[LayoutStore, ImageRef, Path]) -> None:
    store, ref, _ = image
    original = store.fetch_manifest(ct.attestation_tag(store.fetch_manifest(ref.identifier).digest)).raw

    def check(data: bytes) -> None:
        manifest = Manifest.parse(data)
        manifest.layers, manifest.children, manifest.subject, manifest.config  # noqa: B018 - parsed eagerly

    run_cases("manifest", original, check)


def test_dsse_envelopes(image: tuple[LayoutStore, ImageRef, Path]) -> None:
    store, ref, _ = image
    original, _ = _layer_blob(store, ct.attestation_tag(store.fetch_manifest(ref.identifier).digest))
    def check(data: bytes) -> None:
        Envelope.from_json(data)
        parse(data, strict=True)  # what the envelope parser accepts, the strict parser accepts too

    run_cases("envelope", original, check)


def test_bundles(image: tuple[LayoutStore, ImageRef, Path], key: KeyPair) -> None:
    store, ref, _ = image
    original = _bundle(store, ref)
    manifest = store.fetch_manifest(ref.identifier).raw
    public = load_public_key(key.public_pem)
    signed = _bundle_doc.content(parse(original, strict=True))

    def check(data: bytes) -> None:
        verify_bundle(data, artifact=manifest, public_key=public)
        # Accepted: then it carries the original signature over the original payload.
        assert _bundle_doc.content(parse(data, strict=True)) == signed

    run_cases("bundle", original, check)


@pytest.fixture(scope="module")
def sigstore() -> PrivateSigstore:
    return make_private_sigstore()


def test_certificates_in_cosign_material_and_bundles(sigstore: PrivateSigstore) -> None:
    signed_at = START + dt.timedelta(days=1)
    leaf_key, cert = sigstore.leaf(signed_at)
    signature = leaf_key.sign(PAYLOAD, ec.ECDSA(hashes.SHA256()))
    rekor = sigstore.rekor_set(hashedrekord(signature, PAYLOAD, cert), signed_at + dt.timedelta(seconds=5))
    original = cert.public_bytes(Encoding.DER)

    def pem(der: bytes) -> bytes:
        body = base64.encodebytes(der).decode()
        return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n".encode()

    def cosign_layer(der: bytes) -> None:
        verify_cosign_material(signature, PAYLOAD, certificate_pem=pem(der), chain_pem=None, rekor_bundle=rekor,
                               identity=IDENTITY, trusted_root=sigstore.root)
        assert der == original, "a certificate other than the one signed was accepted"

    def bundle(der: bytes) -> None:
        doc = {
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"certificate": {"rawBytes": base64.b64encode(der).decode()}, "tlogEntries": []},
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256",
                                  "digest": base64.b64encode(hashlib.sha256(PAYLOAD).digest()).decode()},
                "signature": base64.b64encode(signature).decode(),
            },
        }
        try:
            verify_bundle(doc, artifact=PAYLOAD, identity=IDENTITY, trusted_root=sigstore.root, now=signed_at)
        except Error:
            if der == original:
                return  # no log entry and no timestamp: the original is refused too, past the certificate
            raise
        assert der == original

    run_cases("cosign certificate", original, cosign_layer)
    rng = random.Random(f"{SEED}/bundle certificate")
    for _ in range(CASES):
        der = mutate(rng, original)
        with hang_guard(), contextlib.suppress(Error):
            bundle(der)
    # A certificate whose extensions cannot be parsed, built by a CA the root trusts.
    broken = (
        x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(sigstore.ca.subject)
        .public_key(leaf_key.public_key()).serial_number(9)
        .not_valid_before(signed_at - dt.timedelta(minutes=1)).not_valid_after(signed_at + dt.timedelta(minutes=9))
        .add_extension(x509.UnrecognizedExtension(x509.oid.ExtensionOID.BASIC_CONSTRAINTS, b"\xff"), False)
        .sign(sigstore.ca_key, hashes.SHA256())
    )
    for check in (cosign_layer, bundle):
        with pytest.raises(Error):
            check(broken.public_bytes(Encoding.DER))


def test_admission_reviews() -> None:
    from tests.admission.support import pod_review

    original = json.dumps(pod_review(["registry.example.com/app:v1", "nginx@sha256:" + "a" * 64])).encode()

    def check(data: bytes) -> None:
        review = parse_review(data)
        images_of(review.kind, review.object)

    run_cases("admission review", original, check)


# -- the gate, end to end ---------------------------------------------------------------------


def _same_signed_content(kind: str, blob: bytes, original: bytes) -> bool:
    """Whether a mutation left what the signature covers as it was (it may then pass)."""
    if kind == "sig":
        return blob == original  # the simple-signing payload is signed whole
    try:
        if kind == "att":
            a, b = Envelope.from_json(blob), Envelope.from_json(original)
            return (a.payload_type, a.payload, {s.sig for s in a.signatures}) == (
                b.payload_type, b.payload, {s.sig for s in b.signatures})
        return bool(_bundle_doc.content(parse(blob, strict=True)) == _bundle_doc.content(parse(original)))
    except (Error, ValueError):
        return False


def test_the_gate_never_passes_on_mutated_evidence(tmp_path: Path, key: KeyPair, cli: Callable[..., Run]) -> None:
    """Fresh copies of a good image, each with the good evidence except one `.sig` layer,
    `.att` layer or bundle attestation replaced by a mutation: exit 1, 2 or 3 unless the
    signed content survived the mutation; never a traceback."""
    good_root = tmp_path / "good"
    good = LayoutStore(good_root, create=True)
    image = scratch.image({"/app": b"gate"})
    scratch.push(good, image, tag="v1")
    good_ref = ImageRef.parse(f"oci:{good_root}:v1")
    sign_image(good, good_ref, key.signer, fmt="legacy")
    attest_image(good, good_ref, key.signer, predicate_type=CUSTOM, predicate={"ok": True}, fmt="both")
    digest = image.digest
    originals = {
        "sig": _layer_blob(good, ct.signature_tag(digest)),
        "att": _layer_blob(good, ct.attestation_tag(digest)),
        "bundle": (_bundle(good, good_ref), {}),
    }
    (tmp_path / "release.pub").write_bytes(key.public_pem)
    rng = random.Random(f"{SEED}/gate")
    for i in range(CASES // 2):
        root = tmp_path / f"case{i}"
        store = LayoutStore(root, create=True)
        subject = scratch.push(store, image, tag="v1")
        what = rng.choice(sorted(originals))
        original, annotations = originals[what]
        blob = mutate(rng, original)
        if what != "sig":
            ct.append_layers(store, ct.signature_tag(digest), [ct.Layer(originals["sig"][0], mt.SIMPLE_SIGNING,
                                                                         originals["sig"][1])])
        if what == "sig":
            ct.append_layers(store, ct.signature_tag(digest), [ct.Layer(blob, mt.SIMPLE_SIGNING, annotations)])
            ct.append_layers(store, ct.attestation_tag(digest), [ct.Layer(originals["att"][0], mt.DSSE_ENVELOPE,
                                                                           originals["att"][1])])
        elif what == "att":
            ct.append_layers(store, ct.attestation_tag(digest), [ct.Layer(blob, mt.DSSE_ENVELOPE, annotations)])
        else:
            push_bundle(store, subject, bundle_artifact(blob, subject, "dsse-envelope", predicate_type=CUSTOM))
        policy = root / "policy.yaml"
        policy.write_text(key_policy("fuzz", [f"oci:{root}"], key=tmp_path / "release.pub"))
        with hang_guard():
            run = cli("verify", "--policy", str(policy), "--output", "json", f"oci:{root}:v1")
        assert "Traceback" not in run.err, run.err
        allowed = {0, 1, 2, 3} if _same_signed_content(what, blob, original) else {1, 2, 3}
        assert run.code in allowed, (i, what, blob[:200], run.out[-2000:])
