"""`slsacheck download attestation|signature IMAGE` against the real TLS registry with auth, as a
user reads what is stored for an image before (or instead of) judging it: an image signed and
attested both ways (cosign tags and Sigstore bundle referrers), one with nothing, one with an
unreadable layer, one that does not exist.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from slsacheck.attach import cosign_tags as ct
from slsacheck.errors import EXIT_INCOMPLETE
from slsacheck.models import mediatypes as mt
from slsacheck.models.digest import Digest
from slsacheck.models.predicates import SLSA_PROVENANCE_V1
from slsacheck.signing.keys import load_public_key
from slsacheck.signing.verify_sig import PublicKeyVerifier
from tests.support.cli import Run, cli, registry_flags
from tests.support.registry import RunningRegistry, push_scratch

__all__ = ["cli"]

pytestmark = pytest.mark.integration

Cli = Callable[..., Run]


def _lines(run: Run) -> list[dict[str, object]]:
    assert "Traceback" not in run.err, run.err
    return [json.loads(line) for line in run.out.splitlines()]


@pytest.fixture
def signed(cli: Cli, registry_tls: RunningRegistry, repo_name: str, tmp_path: Path) -> tuple[str, Digest, Path]:
    """An image signed and attested (SLSA provenance) in both formats with a fresh key."""
    assert cli("generate-key-pair", "--output-key-prefix", str(tmp_path / "k")).code == 0
    built = push_scratch(registry_tls, repo_name, "v1", "download")
    image = f"{registry_tls.host}/{repo_name}:v1"
    flags = registry_flags(registry_tls)
    assert cli("sign", "--key", str(tmp_path / "k.key"), "--format", "both", image, *flags).code == 0
    predicate = tmp_path / "provenance.json"
    predicate.write_text(json.dumps({"buildDefinition": {"buildType": "https://example.com/t"},
                                     "runDetails": {"builder": {"id": "https://builder.example"}}}))
    run = cli("attest", "--key", str(tmp_path / "k.key"), "--predicate", str(predicate), "--type", "slsaprovenance1",
              "--format", "both", image, *flags)
    assert run.code == 0, run.err
    return image, built.digest, tmp_path / "k.pub"


def test_signatures_from_the_sig_tag_and_bundle_referrers(
    cli: Cli, registry_tls: RunningRegistry, signed: tuple[str, Digest, Path]
) -> None:
    image, digest, pub = signed
    run = cli("download", "signature", image, *registry_flags(registry_tls))
    assert run.code == 0, run.err
    lines = _lines(run)
    assert len(lines) == 2
    tag = next(s for s in lines if str(s["Source"]).endswith(".sig layer 0"))
    bundle = next(s for s in lines if "referrer" in str(s["Source"]))
    # cosign's fields, and what they carry is the real signature over the real payload
    payload = base64.b64decode(str(tag["Payload"]))
    assert json.loads(payload)["critical"]["image"]["docker-manifest-digest"] == str(digest)
    verifier = PublicKeyVerifier(load_public_key(pub.read_bytes()))
    verifier.verify(base64.b64decode(str(tag["Base64Signature"])), payload)
    assert tag["Cert"] is None and tag["Bundle"] is None  # key-signed, no log upload
    assert isinstance(bundle["SigstoreBundle"], dict) and bundle["Base64Signature"]
    assert "NOT verified" in run.err and "slsacheck verify" in run.err


def test_attestations_as_envelopes_and_as_statements(
    cli: Cli, registry_tls: RunningRegistry, signed: tuple[str, Digest, Path]
) -> None:
    image, digest, _ = signed
    flags = registry_flags(registry_tls)
    envelopes = cli("download", "attestation", image, *flags)
    assert envelopes.code == 0, envelopes.err
    docs = _lines(envelopes)
    assert len(docs) == 2 and all(d["payloadType"] == mt.IN_TOTO_PAYLOAD and d["signatures"] for d in docs)
    assert "NOT verified" in envelopes.err and "verify-attestation" in envelopes.err

    statements = _lines(cli("download", "attestation", image, "--output", "payload",
                            "--predicate-type", "slsaprovenance1", *flags))
    assert len(statements) == 2
    for statement in statements:
        assert statement["predicateType"] == SLSA_PROVENANCE_V1
        assert statement["subject"][0]["digest"] == {"sha256": digest.hex}  # type: ignore[index]
    assert statements == [json.loads(base64.b64decode(str(d["payload"]))) for d in docs]

    other = cli("download", "attestation", image, "--predicate-type", "spdx", *flags)
    assert other.code == 0 and other.out == "" and "no https://spdx.dev/Document attestations stored" in other.err


def test_nothing_stored_prints_nothing_and_says_so(cli: Cli, registry_tls: RunningRegistry, repo_name: str) -> None:
    push_scratch(registry_tls, repo_name, "bare", "bare")
    image = f"{registry_tls.host}/{repo_name}:bare"
    for what in ("signature", "attestation"):
        run = cli("download", what, image, *registry_flags(registry_tls))
        assert run.code == 0 and run.out == "", run.err
        assert f"no {what}s stored for {image}" in run.err and "searched:" in run.err


def test_an_unreadable_layer_is_skipped_with_its_reason(
    cli: Cli, registry_tls: RunningRegistry, signed: tuple[str, Digest, Path]
) -> None:
    image, digest, _ = signed
    store = registry_tls.store(image.split("/", 1)[1].rsplit(":", 1)[0])
    broken = ct.Layer(b"{not json", mt.DSSE_ENVELOPE, {mt.ANN_SIGNATURE: "", mt.ANN_PREDICATE_TYPE: SLSA_PROVENANCE_V1})
    ct.append_layers(store, ct.attestation_tag(digest), [broken])
    run = cli("download", "attestation", image, *registry_flags(registry_tls))
    assert run.code == 0
    assert len(_lines(run)) == 2  # the .att layer and the bundle: the readable ones
    assert "skipped" in run.err and ".att layer 1: " in run.err


def test_an_image_that_does_not_exist(cli: Cli, registry_tls: RunningRegistry, repo_name: str) -> None:
    run = cli("download", "signature", f"{registry_tls.host}/{repo_name}:missing", *registry_flags(registry_tls))
    assert run.code == EXIT_INCOMPLETE and run.out == ""
    assert "Traceback" not in run.err and "missing" in run.err
