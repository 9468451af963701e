"""An image signed with a key the policy does not know, as a user meets it on a real registry:
the refusal names the key that signed (where the evidence names it and the signature
verifies with it) and the authority's own keys, instead of "the ECDSA signature does not
verify". Evidence that names a key that did not make the signature is not believed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.attach.cosign_tags import append_layers, signature_layer, signature_tag
from slsacheck.signing.keys import fingerprint, load_public_key
from slsacheck.signing.signer import Material, SignedMessage
from slsacheck.signing.simplesigning import build_payload
from tests.support.cli import Run, cli, registry_flags
from tests.support.private_sigstore import PEM, SPKI, START, PrivateSigstore, hashedrekord, make_private_sigstore
from tests.support.registry import RunningRegistry, push_scratch

__all__ = ["cli"]

pytestmark = pytest.mark.integration

RELEASE = ec.generate_private_key(ec.SECP256R1())
SOMEONE = ec.generate_private_key(ec.SECP256R1())  # a key the policy never heard of
THIRD = ec.generate_private_key(ec.SECP256R1())

POLICY = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata: {{name: team}}
spec:
  images: {{include: ["{host}/**"]}}
  authorities:
    - name: release
      key: {{file: release.pub}}
  signatures: {{authorities: [release]}}
"""


def short(key: ec.EllipticCurvePrivateKey) -> str:
    return "sha256:" + fingerprint(key.public_key())[:16]


NOT_RELEASE = f"not a key of authority release (its keys: {short(RELEASE)})"
ANOTHER = f"signed by a key that is not one of authority release's keys ({short(RELEASE)}), or changed after signing; "


@pytest.fixture(scope="module")
def sigstore() -> PrivateSigstore:
    return make_private_sigstore()


@pytest.fixture
def policy(tmp_path: Path, registry_http: RunningRegistry) -> Path:
    (tmp_path / "release.pub").write_bytes(RELEASE.public_key().public_bytes(PEM, SPKI))
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(host=registry_http.host))
    return path


def _sign(reg: RunningRegistry, repo: str, tag: str, sigstore: PrivateSigstore,
          logged: ec.EllipticCurvePrivateKey | None) -> str:
    """A `.sig` layer signed by SOMEONE, with a Rekor SET over an entry naming `logged` (None: not uploaded)."""
    built = push_scratch(reg, repo, tag, tag)
    payload = build_payload(f"{reg.host}/{repo}", built.digest)
    signature = SOMEONE.sign(payload, ec.ECDSA(hashes.SHA256()))
    rekor = None
    if logged is not None:
        rekor = sigstore.rekor_set(hashedrekord(signature, payload, logged.public_key()), START + dt.timedelta(days=1))
    layer = signature_layer(SignedMessage(payload, signature, Material(rekor_bundle=rekor)))
    append_layers(reg.store(repo), signature_tag(built.digest), [layer])
    return f"{reg.host}/{repo}:{tag}"


def _reasons(run: Run) -> tuple[str, list[str]]:
    doc = run.json()
    found = next(c["found"] for c in doc["checks"] if c["id"] == "signatures.threshold")
    return found, [r["reason"] for r in doc["evidence"]["signatures"]["rejected"]]


def test_uploaded_to_the_log_the_reason_names_the_signing_key(
    cli: Callable[..., Run], registry_http: RunningRegistry, repo_name: str, policy: Path, sigstore: PrivateSigstore
) -> None:
    image = _sign(registry_http, repo_name, "logged", sigstore, SOMEONE)
    run = cli("verify", "--policy", str(policy), image, "--output", "json", *registry_flags(registry_http))
    assert run.code == 1
    found, reasons = _reasons(run)
    said = f"signed by key {short(SOMEONE)} (named by the layer's Rekor entry), {NOT_RELEASE}"
    assert reasons == [said] and said in found
    assert "does not verify" not in found
    text = cli("verify", "--policy", str(policy), image, *registry_flags(registry_http))
    assert text.code == 1 and said in text.out


def test_without_a_log_entry_the_reason_says_the_evidence_does_not_name_the_key(
    cli: Callable[..., Run], registry_http: RunningRegistry, repo_name: str, policy: Path, sigstore: PrivateSigstore
) -> None:
    image = _sign(registry_http, repo_name, "unlogged", sigstore, None)
    run = cli("verify", "--policy", str(policy), image, "--output", "json", *registry_flags(registry_http))
    assert run.code == 1
    found, reasons = _reasons(run)
    assert reasons == [ANOTHER + "the evidence does not name the key"]
    assert short(SOMEONE) not in found


def test_a_log_entry_naming_another_key_is_not_believed(
    cli: Callable[..., Run], registry_http: RunningRegistry, repo_name: str, policy: Path, sigstore: PrivateSigstore
) -> None:
    # The entry logs THIRD's key, but SOMEONE signed: the evidence lies about its signer.
    image = _sign(registry_http, repo_name, "lying", sigstore, THIRD)
    run = cli("verify", "--policy", str(policy), image, "--output", "json", *registry_flags(registry_http))
    assert run.code == 1
    _, reasons = _reasons(run)
    assert reasons == [ANOTHER + f"{short(THIRD)} named by the evidence does not verify it either"]


def test_cli_signed_bundle_and_attestation_by_an_unknown_key(
    cli: Callable[..., Run], registry_http: RunningRegistry, repo_name: str, policy: Path, tmp_path: Path
) -> None:
    """`slsacheck sign`/`attest` with a key of the user's own, both formats (no log upload)."""
    assert cli("generate-key-pair", "--output-key-prefix", str(tmp_path / "mine")).code == 0
    built = push_scratch(registry_http, repo_name, "cli", "cli")
    image = f"{registry_http.host}/{repo_name}@{built.digest}"
    flags = registry_flags(registry_http)
    assert cli("sign", "--key", str(tmp_path / "mine.key"), image, *flags).code == 0
    predicate = tmp_path / "predicate.json"
    predicate.write_text("{}")
    assert cli("attest", "--key", str(tmp_path / "mine.key"), "--predicate", str(predicate), "--type", "custom",
               image, *flags).code == 0
    run = cli("verify", "--policy", str(policy), image, "--output", "json", *flags)
    assert run.code == 1
    _, reasons = _reasons(run)
    mine = "sha256:" + fingerprint(load_public_key((tmp_path / "mine.pub").read_bytes()))[:16]
    assert f"signed by key {mine} (as the bundle's publicKey hint says), {NOT_RELEASE}" in reasons
    assert ANOTHER + "the evidence does not name the key" in reasons
    assert not any("does not verify" in r for r in reasons)
    att = cli("verify-attestation", "--key", str(tmp_path / "release.pub"), "--type", "custom", image,
              "--output", "json", *flags)
    assert att.code == 1
    rejected = [r["reason"] for r in att.json()["evidence"]["attestations"]["rejected"]]
    said = f"signed by key {mine} (as the bundle's publicKey hint says), not a key given with --key"
    assert said in " ".join(rejected)
    assert not any("does not verify" in r for r in rejected)
