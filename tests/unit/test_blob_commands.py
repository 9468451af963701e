"""sign-blob / attest-blob / verify-blob / verify-blob-attestation, through the CLI.

Keys are real cosign key pairs; keyless evidence comes from the project's private Sigstore
(a Fulcio-like CA and a Rekor key making real SETs). Each negative case is built the way an
attacker would build the evidence: another file, another key, another identity, a statement
that names the file on one algorithm and another file on a second, a log entry of another
signature, a detached keyless signature with no log entry.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.signing.keys import load_private_key
from slsacheck.signing.keysigner import KeySigner
from tests.support.cli import Cli, cli
from tests.support.env import shared_file
from tests.support.keys import write_key_pairs
from tests.support.private_sigstore import (
    ISSUER,
    PEM,
    SUBJECT,
    PrivateSigstore,
    hashedrekord,
    make_private_sigstore,
)
from tests.unit.test_provenance_generate import taskrun

__all__ = ["cli"]

SLSA1 = "https://slsa.dev/provenance/v1"
BUILDER = "https://tekton.dev/chains/v2"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = write_key_pairs(tmp_path, "release", "other")
    (tmp_path / "app.tgz").write_bytes(b"the release archive\n")
    (tmp_path / "evil.tgz").write_bytes(b"another archive\n")
    paths["app"] = tmp_path / "app.tgz"
    paths["evil"] = tmp_path / "evil.tgz"
    paths["dir"] = tmp_path
    return paths


def _signer(path: Path) -> KeySigner:
    return KeySigner(load_private_key(path.read_bytes(), password=lambda: b""))


def _statement(subjects: list[dict[str, Any]], predicate: dict[str, Any] | None = None) -> bytes:
    return json.dumps({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subjects,
        "predicateType": SLSA1,
        "predicate": predicate or _provenance(),
    }).encode()


def _provenance(builder: str = BUILDER, repo: str = "git+https://github.com/acme/app",
                ref: str = "refs/tags/v1.2.0") -> dict[str, Any]:
    return {
        "buildDefinition": {
            "buildType": "https://tekton.dev/chains/v2/slsa",
            "externalParameters": {"source": f"{repo}@{ref}"},
            "resolvedDependencies": [{"uri": f"{repo}@{ref}", "digest": {"sha1": "a" * 40}}],
        },
        "runDetails": {"builder": {"id": builder}, "metadata": {"finishedOn": "2026-03-01T10:00:00Z"}},
    }


def _envelope(signer: KeySigner, payload: bytes) -> dict[str, Any]:
    return dict(signer.sign_dsse("application/vnd.in-toto+json", payload).envelope)


def _subject(path: Path, *algorithms: str) -> dict[str, Any]:
    data = path.read_bytes()
    return {"name": path.name, "digest": {a: hashlib.new(a, data).hexdigest() for a in algorithms or ("sha256",)}}


# -- sign-blob / verify-blob with a key ------------------------------------------------------


def test_sign_blob_bundle_verifies_and_refuses_other_file_and_key(cli: Cli, files: dict[str, Path]) -> None:
    bundle = files["dir"] / "app.sigstore.json"
    run = cli("sign-blob", "--key", str(files["release"]), "--bundle", str(bundle), str(files["app"]))
    assert run.code == 0, run.err
    doc = json.loads(bundle.read_text())
    assert doc["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json" and "messageSignature" in doc

    ok = cli("verify-blob", "--bundle", str(bundle), "--key", str(files["release.pub"]), str(files["app"]))
    assert ok.code == 0 and "verified" in ok.out, ok.err
    tampered = cli("verify-blob", "--bundle", str(bundle), "--key", str(files["release.pub"]), str(files["evil"]))
    assert tampered.code == 1 and "message digest" in tampered.err
    other = cli("verify-blob", "--bundle", str(bundle), "--key", str(files["other.pub"]), str(files["app"]))
    assert other.code == 1 and "does not verify" in other.err


def test_detached_key_signature_is_judged_on_the_key_and_says_so(cli: Cli, files: dict[str, Path]) -> None:
    sig = files["dir"] / "app.sig"
    assert cli("sign-blob", "--key", str(files["release"]), "--output-signature", str(sig), str(files["app"])).code == 0
    base64.b64decode(sig.read_text(), validate=True)  # cosign's form: base64 text

    ok = cli("verify-blob", "--signature", str(sig), "--key", str(files["release.pub"]), str(files["app"]))
    assert ok.code == 0 and "the key alone vouches" in ok.err
    assert cli("verify-blob", "--signature", str(sig), "--key", str(files["release.pub"]), str(files["evil"])).code == 1
    assert cli("verify-blob", "--signature", str(sig), "--key", str(files["other.pub"]), str(files["app"])).code == 1
    # Raw (not base64) signature bytes are read too.
    sig.write_bytes(base64.b64decode(sig.read_text()))
    assert cli("verify-blob", "--signature", str(sig), "--key", str(files["release.pub"]), str(files["app"])).code == 0


def test_a_tlog_requirement_fails_closed_on_a_detached_signature(cli: Cli, files: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    sig = files["dir"] / "app.sig"
    cli("sign-blob", "--key", str(files["release"]), "--output-signature", str(sig), str(files["app"]))
    root = tmp_path / "root.json"
    root.write_text(json.dumps(make_private_sigstore().doc))
    run = cli("verify-blob", "--signature", str(sig), "--key", str(files["release.pub"]), "--tlog", "require",
              "--trusted-root", str(root), str(files["app"]))
    assert run.code == 1 and "no transparency-log entry" in run.err
    no_root = cli("verify-blob", "--signature", str(sig), "--key", str(files["release.pub"]), "--tlog", "require",
                  str(files["app"]))
    assert no_root.code == 2 and "needs a trust root" in no_root.err


def test_verify_blob_refuses_an_attestation_bundle(cli: Cli, files: dict[str, Path], tmp_path: Path) -> None:
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps(_provenance()))
    bundle = tmp_path / "att.json"
    assert cli("attest-blob", "--key", str(files["release"]), "--predicate", str(pred), "--type", "slsaprovenance1",
               "--bundle", str(bundle), str(files["app"])).code == 0
    run = cli("verify-blob", "--bundle", str(bundle), "--key", str(files["release.pub"]), str(files["app"]))
    assert run.code == 1 and "verify-blob-attestation" in run.err


def test_usage_errors_are_one_line(cli: Cli, files: dict[str, Path]) -> None:
    both = cli("verify-blob", "--signature", "x", "--bundle", "y", "--key", str(files["release.pub"]), "f")
    assert both.code == 2 and "Traceback" not in both.err
    neither = cli("verify-blob", "--bundle", "y", str(files["app"]))
    assert neither.code == 2 and "--key or a certificate identity" in neither.err
    garbage = files["dir"] / "garbage"
    garbage.write_text("not a certificate")
    run = cli("verify-blob", "--signature", str(garbage), "--certificate", str(garbage),
              "--certificate-identity", SUBJECT, "--certificate-oidc-issuer", ISSUER,
              "--trusted-root", str(garbage), str(files["app"]))
    assert run.code == 2 and "Traceback" not in run.err


# -- keyless: detached signature, cosign's blob bundle ----------------------------------------


@pytest.fixture
def sigstore(tmp_path: Path) -> tuple[PrivateSigstore, Path]:
    ps = make_private_sigstore()
    root = tmp_path / "trusted_root.json"
    root.write_text(json.dumps(ps.doc))
    return ps, root


def _keyless_sign(ps: PrivateSigstore, data: bytes, when: dt.datetime) -> tuple[bytes, bytes]:
    key, cert = ps.leaf(when - dt.timedelta(minutes=1))
    return key.sign(data, ec.ECDSA(hashes.SHA256())), cert.public_bytes(PEM)


def _identity(root: Path, subject: str = SUBJECT) -> list[str]:
    return ["--certificate-identity", subject, "--certificate-oidc-issuer", ISSUER, "--trusted-root", str(root)]


def test_detached_keyless_signature_needs_a_log_entry(cli: Cli, files: dict[str, Path],
                                                      sigstore: tuple[PrivateSigstore, Path]) -> None:
    ps, root = sigstore
    signature, cert_pem = _keyless_sign(ps, files["app"].read_bytes(), dt.datetime.now(dt.UTC))
    sig, crt = files["dir"] / "app.sig", files["dir"] / "app.crt"
    sig.write_bytes(base64.b64encode(signature))
    crt.write_bytes(base64.b64encode(cert_pem))  # cosign's --output-certificate: base64 of the PEM
    argv = ["verify-blob", "--signature", str(sig), "--certificate", str(crt), *_identity(root)]
    refused = cli(*argv, str(files["app"]))
    assert refused.code == 1 and "no transparency-log entry" in refused.err
    # Given up explicitly: the certificate is checked now, and the output says what was not.
    ok = cli(*argv, "--insecure-ignore-tlog", str(files["app"]))
    assert ok.code == 0 and "checked at the current time" in ok.err
    assert cli(*argv, "--insecure-ignore-tlog", str(files["evil"])).code == 1
    wrong = ["verify-blob", "--signature", str(sig), "--certificate", str(crt),
             *_identity(root, "https://kubernetes.io/namespaces/ci/serviceaccounts/other")]
    assert cli(*wrong, "--insecure-ignore-tlog", str(files["app"])).code == 1


def test_cosign_blob_bundle_with_a_set(cli: Cli, files: dict[str, Path],
                                       sigstore: tuple[PrivateSigstore, Path]) -> None:
    ps, root = sigstore
    data = files["app"].read_bytes()
    now = dt.datetime.now(dt.UTC)
    signature, cert_pem = _keyless_sign(ps, data, now)
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem)
    good = {"base64Signature": base64.b64encode(signature).decode(), "cert": base64.b64encode(cert_pem).decode(),
            "rekorBundle": ps.rekor_set(hashedrekord(signature, data, cert), now)}
    path = files["dir"] / "app.bundle"
    path.write_text(json.dumps(good))
    ok = cli("verify-blob", "--bundle", str(path), *_identity(root), "--output", "json", str(files["app"]))
    assert ok.code == 0 and ok.json()["tlogEntriesVerified"] == 1, ok.err

    # The log entry of another signature by the same certificate: refused.
    other_sig = ps.leaf(now)[0].sign(b"x", ec.ECDSA(hashes.SHA256()))
    forged = dict(good, rekorBundle=ps.rekor_set(hashedrekord(other_sig, b"x", cert), now))
    path.write_text(json.dumps(forged))
    assert cli("verify-blob", "--bundle", str(path), *_identity(root), str(files["app"])).code == 1
    # A SET made by a key not in the trust root: refused.
    rogue = make_private_sigstore()
    path.write_text(json.dumps(dict(good, rekorBundle=rogue.rekor_set(hashedrekord(signature, data, cert), now))))
    assert cli("verify-blob", "--bundle", str(path), *_identity(root), str(files["app"])).code == 1


def test_realworld_detached_signature_cannot_be_proven_offline(cli: Cli) -> None:
    """sigstore-python verifies a.txt.sig by fetching its log entry online; offline, with no
    entry, slsacheck refuses it (and its 2022 certificate is long expired, so giving up the
    log does not make it pass either)."""
    assets = shared_file("realworld/sigstore__sigstore-python/test/assets")
    root = shared_file("realworld/sigstore__sigstore-python/roots/staging_trusted_root.json")
    argv = ["verify-blob", "--signature", str(assets / "a.txt.sig"), "--certificate", str(assets / "a.txt.crt"),
            "--certificate-identity-regexp", ".*", "--certificate-oidc-issuer-regexp", ".*",
            "--trusted-root", str(root)]
    refused = cli(*argv, str(assets / "a.txt"))
    assert refused.code == 1 and "no transparency-log entry" in refused.err
    expired = cli(*argv, "--insecure-ignore-tlog", str(assets / "a.txt"))
    assert expired.code == 1 and "Traceback" not in expired.err


# -- attest-blob / verify-blob-attestation -----------------------------------------------------


def test_attest_blob_then_verify_with_provenance_flags(cli: Cli, files: dict[str, Path], tmp_path: Path) -> None:
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps(_provenance()))
    bundle = tmp_path / "app.att.json"
    run = cli("attest-blob", "--key", str(files["release"]), "--predicate", str(pred), "--type", "slsaprovenance1",
              "--bundle", str(bundle), str(files["app"]))
    assert run.code == 0, run.err
    base = ["verify-blob-attestation", "--bundle", str(bundle), "--key", str(files["release.pub"])]
    ok = cli(*base, "--type", "slsaprovenance1", "--builder-id", BUILDER, "--source-uri", "github.com/acme/app",
             "--source-tag", "v1.2.0", "--output", "json", str(files["app"]))
    assert ok.code == 0, ok.out + ok.err
    verdict = ok.json()
    assert {c["id"]: c["outcome"] for c in verdict["checks"]} == {
        "attestations.present": "pass", "provenance.builderIds": "pass",
        "provenance.source.repositories": "pass", "provenance.source.refs": "pass",
    }
    assert verdict["digest"] == "sha256:" + hashlib.sha256(files["app"].read_bytes()).hexdigest()

    assert cli(*base, "--builder-id", "https://evil.example/builder", str(files["app"])).code == 1
    assert cli(*base, "--source-uri", "github.com/acme/other", str(files["app"])).code == 1
    assert cli(*base, "--source-uri", "github.com/acme/app", "--source-branch", "main", str(files["app"])).code == 1
    assert cli(*base, "--type", "vuln", str(files["app"])).code == 1
    not_about = cli(*base, str(files["evil"]))
    assert not_about.code == 1 and "not a subject" in not_about.out
    other_key = cli("verify-blob-attestation", "--bundle", str(bundle), "--key", str(files["other.pub"]),
                    str(files["app"]))
    assert other_key.code == 1


def test_a_statement_for_another_file_is_not_unwrapped(cli: Cli, files: dict[str, Path], tmp_path: Path) -> None:
    stmt = tmp_path / "stmt.json"
    stmt.write_bytes(_statement([_subject(files["evil"])]))
    run = cli("attest-blob", "--key", str(files["release"]), "--predicate", str(stmt), "--bundle",
              str(tmp_path / "b.json"), str(files["app"]))
    assert run.code == 2 and "other artifacts" in run.err


@pytest.mark.parametrize("case", ["sha512-mismatch", "sha1-only", "other-file"])
def test_subject_digests_must_name_the_file(cli: Cli, files: dict[str, Path], case: str) -> None:
    """An attacker's statement: right sha256 but the sha512 of another file; only a weak
    algorithm; or simply another file."""
    subject = {
        "sha512-mismatch": {**_subject(files["app"], "sha256"),
                            "digest": {**_subject(files["app"], "sha256")["digest"],
                                       "sha512": hashlib.sha512(b"other").hexdigest()}},
        "sha1-only": _subject(files["app"], "sha1"),
        "other-file": _subject(files["evil"], "sha256", "sha512"),
    }[case]
    env = files["dir"] / "att.dsse.json"
    env.write_text(json.dumps(_envelope(_signer(files["release"]), _statement([subject]))))
    run = cli("verify-blob-attestation", "--signature", str(env), "--key", str(files["release.pub"]),
              str(files["app"]))
    assert run.code == 1 and "not a subject" in run.out


def test_intoto_jsonl_with_several_lines(cli: Cli, files: dict[str, Path]) -> None:
    signer = _signer(files["release"])
    lines = [
        json.dumps(_envelope(signer, _statement([_subject(files["evil"])]))),
        "",
        json.dumps(_envelope(signer, _statement([_subject(files["app"], "sha256", "sha512"),
                                                 _subject(files["evil"])]))),
    ]
    jsonl = files["dir"] / "multiple.intoto.jsonl"
    jsonl.write_text("\n".join(lines) + "\n")
    base = ["verify-blob-attestation", "--bundle", str(jsonl), "--key", str(files["release.pub"])]
    ok = cli(*base, "--builder-id", BUILDER, "--output", "json", str(files["app"]))
    assert ok.code == 0, ok.out
    present = ok.json()["checks"][0]
    assert "line 3" in present["found"] and "rejected" in present["found"] and "line 1" in present["found"]
    assert "the key alone vouches" in ok.err
    # A line signed by another key never counts, even about the right file.
    other = _signer(files["other"])
    jsonl.write_text(json.dumps(_envelope(other, _statement([_subject(files["app"])]))) + "\nnot json\n")
    refused = cli(*base, str(files["app"]))
    assert refused.code == 1 and "not JSON" in refused.out
    # A tampered payload (statement swapped after signing) does not verify.
    env = _envelope(signer, _statement([_subject(files["evil"])]))
    env["payload"] = base64.b64encode(_statement([_subject(files["app"])])).decode()
    jsonl.write_text(json.dumps(env) + "\n")
    assert cli(*base, str(files["app"])).code == 1
    # Lines nested deeper than any attestation, or with a key given twice in the envelope
    # (two parsers could read different values), are refused and the signed line still counts.
    good = json.dumps(_envelope(signer, _statement([_subject(files["app"])])))
    twice = good[:-1] + ', "payloadType": "application/vnd.in-toto+json"}'
    jsonl.write_text("[" * 5000 + "]" * 5000 + "\n" + twice + "\n" + good + "\n")
    mixed = cli(*base, "--output", "json", str(files["app"]))
    assert mixed.code == 0 and "Traceback" not in mixed.err, mixed.err
    found = mixed.json()["checks"][0]["found"]
    accepted, _, rejected = found.partition("rejected")
    assert "line 3" in accepted and "line 1" not in accepted and "line 2" not in accepted
    assert "nested deeper" in rejected and "duplicate key" in rejected


def test_keyless_bare_envelope_needs_its_log_entry(cli: Cli, files: dict[str, Path],
                                                   sigstore: tuple[PrivateSigstore, Path]) -> None:
    """slsa-github-generator v1's shape: the certificate in the signature, the log entry online."""
    ps, root = sigstore
    from slsacheck.signing.dsse import pae

    payload = _statement([_subject(files["app"])])
    key, cert = ps.leaf(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    sig = key.sign(pae("application/vnd.in-toto+json", payload), ec.ECDSA(hashes.SHA256()))
    env = {"payloadType": "application/vnd.in-toto+json", "payload": base64.b64encode(payload).decode(),
           "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode(),
                           "cert": cert.public_bytes(PEM).decode()}]}
    path = files["dir"] / "app.intoto.jsonl"
    path.write_text(json.dumps(env) + "\n")
    argv = ["verify-blob-attestation", "--bundle", str(path), *_identity(root)]
    refused = cli(*argv, str(files["app"]))
    assert refused.code == 1 and "no transparency-log entry" in refused.out
    assert cli(*argv, "--insecure-ignore-tlog", str(files["app"])).code == 0
    wrong = ["verify-blob-attestation", "--bundle", str(path),
             *_identity(root, "https://kubernetes.io/namespaces/ci/serviceaccounts/other")]
    assert cli(*wrong, "--insecure-ignore-tlog", str(files["app"])).code == 1


def test_tekton_artifact_outputs_close_the_loop(cli: Cli, files: dict[str, Path], tmp_path: Path) -> None:
    """A TaskRun that built a file (`*ARTIFACT_OUTPUTS`) -> provenance generate -> attest-blob
    -> verify-blob-attestation with the builder and source rules."""
    digest = "sha256:" + hashlib.sha256(files["app"].read_bytes()).hexdigest()
    run = taskrun([{"name": "bin-ARTIFACT_OUTPUTS",
                    "value": {"uri": "https://files.example.com/app.tgz", "digest": digest,
                              "isBuildArtifact": "true"}}])
    run_file = tmp_path / "taskrun.json"
    run_file.write_text(json.dumps(run))
    stmt = tmp_path / "statement.json"
    gen = cli("provenance", "generate", "--run", str(run_file), "--output", str(stmt))
    assert gen.code == 0, gen.err
    bundle = tmp_path / "app.att.json"
    assert cli("attest-blob", "--key", str(files["release"]), "--predicate", str(stmt), "--bundle", str(bundle),
               str(files["app"])).code == 0
    base = ["verify-blob-attestation", "--bundle", str(bundle), "--key", str(files["release.pub"]),
            "--type", "slsaprovenance1"]
    builder = json.loads(stmt.read_text())["predicate"]["runDetails"]["builder"]["id"]
    ok = cli(*base, "--builder-id", builder, "--source-uri", "git.example.com/team/app", str(files["app"]))
    assert ok.code == 0, ok.out
    assert cli(*base, "--source-uri", "git.example.com/team/other", str(files["app"])).code == 1
    assert cli(*base, str(files["evil"])).code == 1


def test_key_signed_cosign_blob_bundle_with_a_set_follows_the_tlog_rule(cli: Cli, files: dict[str, Path],
                                                                       sigstore: tuple[PrivateSigstore, Path]) -> None:
    """`cosign sign-blob --key --bundle` (cosign 2) logs by default: the SET is checked when a
    trust root is given, ignored (and said so) otherwise; a SET of another signature fails."""
    ps, root = sigstore
    data = files["app"].read_bytes()
    private = load_private_key(files["release"].read_bytes(), password=lambda: b"")
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    signature = private.sign(data, ec.ECDSA(hashes.SHA256()))
    now = dt.datetime.now(dt.UTC)
    good = {"base64Signature": base64.b64encode(signature).decode(),
            "rekorBundle": ps.rekor_set(hashedrekord(signature, data, private.public_key()), now)}
    path = files["dir"] / "app.bundle"
    path.write_text(json.dumps(good))
    key = ["--key", str(files["release.pub"])]
    checked = cli("verify-blob", "--bundle", str(path), *key, "--trusted-root", str(root), "--output", "json",
                  str(files["app"]))
    assert checked.code == 0 and checked.json()["tlogEntriesVerified"] == 1, checked.err
    unchecked = cli("verify-blob", "--bundle", str(path), *key, str(files["app"]))
    assert unchecked.code == 0 and "not checked" in unchecked.err
    other = private.sign(b"another file", ec.ECDSA(hashes.SHA256()))
    path.write_text(json.dumps(dict(good, rekorBundle=ps.rekor_set(
        hashedrekord(other, b"another file", private.public_key()), now))))
    forged = cli("verify-blob", "--bundle", str(path), *key, "--trusted-root", str(root), str(files["app"]))
    assert forged.code == 1
    keyless = cli("verify-blob", "--bundle", str(path), *_identity(root), str(files["app"]))
    assert keyless.code == 1 and "signed with a key" in keyless.err


def test_tekton_artifact_uri_in_slsa_v02_closes_the_loop(cli: Cli, files: dict[str, Path], tmp_path: Path) -> None:
    """Chains' ARTIFACT_URI/ARTIFACT_DIGEST are subjects of SLSA v0.2 provenance (in v1 they are
    byproducts): generate v0.2, attest-blob, verify the file with the v0.2 builder id."""
    digest = "sha256:" + hashlib.sha256(files["app"].read_bytes()).hexdigest()
    run = taskrun([{"name": "ARTIFACT_URI", "value": "https://files.example.com/app.tgz"},
                   {"name": "ARTIFACT_DIGEST", "value": digest}])
    (tmp_path / "taskrun.json").write_text(json.dumps(run))
    stmt = tmp_path / "statement.json"
    made = cli("provenance", "generate", "--run", str(tmp_path / "taskrun.json"), "--format", "slsa-v0.2",
               "--output", str(stmt))
    assert made.code == 0, made.err
    bundle = tmp_path / "app.att.json"
    assert cli("attest-blob", "--key", str(files["release"]), "--predicate", str(stmt), "--bundle", str(bundle),
               str(files["app"])).code == 0
    builder = json.loads(stmt.read_text())["predicate"]["builder"]["id"]
    base = ["verify-blob-attestation", "--bundle", str(bundle), "--key", str(files["release.pub"]),
            "--type", "slsaprovenance02"]
    ok = cli(*base, "--builder-id", builder, "--source-uri", "git.example.com/team/app", str(files["app"]))
    assert ok.code == 0, ok.out
    assert cli(*base, "--builder-id", "https://tekton.dev/chains/v2", str(files["app"])).code == 1
    assert cli(*base, str(files["evil"])).code == 1


def test_evidence_files_are_size_capped(cli: Cli, files: dict[str, Path]) -> None:
    big = files["dir"] / "big.json"
    with big.open("wb") as out:
        out.truncate(33 * 1024 * 1024)
    run = cli("verify-blob", "--bundle", str(big), "--key", str(files["release.pub"]), str(files["app"]))
    assert run.code == 2 and "too large" in run.err
    att = cli("verify-blob-attestation", "--bundle", str(big), "--key", str(files["release.pub"]), str(files["app"]))
    assert att.code == 2 and "too large" in att.err


def test_real_npm_provenance_by_its_sha512_with_slsa_verifier_flags(cli: Cli) -> None:
    """sigstore-go's sigstore-js 2.0.0 npm provenance (bundle v0.1, subject sha512 only), as its
    own tests verify it, then judged as slsa-verifier's verify-artifact judges provenance."""
    go = "realworld/sigstore__sigstore-go/pkg/testing/data"
    bundle = shared_file(f"{go}/bundles/sigstore.js@2.0.0-provenance.sigstore.json")
    root = shared_file(f"{go}/trusted-roots/public-good.json")
    statement = json.loads(base64.b64decode(json.loads(bundle.read_text())["dsseEnvelope"]["payload"]))
    digest = "sha512:" + statement["subject"][0]["digest"]["sha512"]
    base = ["verify-blob-attestation", "--bundle", str(bundle), "--trusted-root", str(root),
            "--certificate-identity", "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml"
            "@refs/heads/main", "--certificate-oidc-issuer", "https://token.actions.githubusercontent.com"]
    ok = cli(*base, "--builder-id", "https://github.com/actions/runner/github-hosted",
             "--source-uri", "github.com/sigstore/sigstore-js", "--source-branch", "main", digest)
    assert ok.code == 0, ok.out
    assert cli(*base, "--source-uri", "github.com/sigstore/sigstore-js", "--source-branch", "dev", digest).code == 1
    assert cli(*base, "--source-uri", "github.com/evil/sigstore-js", digest).code == 1
    flipped = "sha512:" + ("0" if digest[7] != "0" else "1") + digest[8:]
    assert cli(*base, flipped).code == 1
    # A sha256 digest cannot stand for a sha512-only subject: nothing is shared.
    assert cli(*base, "sha256:" + "ab" * 32).code == 1
