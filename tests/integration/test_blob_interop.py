"""Blob bundles across implementations, both ways, against the loopback mock Sigstore.

- `slsacheck sign-blob` / `attest-blob` (keyless and key) write bundles that sigstore-python
  (`python -m sigstore verify identity --offline`) and `@sigstore/verify` accept, and reject
  for another identity or another file;
- what sigstore-python `sign`/`attest` and sigstore-js write over a file, `slsacheck
  verify-blob` / `verify-blob-attestation` accept, and reject for another identity or file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import Cli, cli
from tests.support.keys import write_key_pairs
from tests.support.peers import js_sign_keyless, js_verify, py_sign, py_verify_identity, sigstore_python
from tests.support.sigstore_mock import DEFAULT_ISSUER, MockSigstore, mock_sigstore

__all__ = ["cli", "mock_sigstore"]

pytestmark = pytest.mark.integration

SUBJECT = "https://kubernetes.io/namespaces/ci/serviceaccounts/release"
OTHER = "https://kubernetes.io/namespaces/ci/serviceaccounts/other"
PROVENANCE = {
    "buildDefinition": {"buildType": "https://tekton.dev/chains/v2/slsa",
                        "externalParameters": {"source": "git+https://github.com/acme/app@refs/tags/v1"},
                        "resolvedDependencies": [{"uri": "git+https://github.com/acme/app@refs/tags/v1",
                                                  "digest": {"sha1": "b" * 40}}]},
    "runDetails": {"builder": {"id": "https://tekton.dev/chains/v2"}},
}


@pytest.fixture
def work(tmp_path: Path, mock_sigstore: MockSigstore) -> dict[str, Path]:
    paths = write_key_pairs(tmp_path, "release")
    (tmp_path / "app.tgz").write_bytes(b"release archive 1.0\n")
    (tmp_path / "evil.tgz").write_bytes(b"release archive 1.0 with a backdoor\n")
    (tmp_path / "token").write_text(mock_sigstore.token(SUBJECT))
    (tmp_path / "predicate.json").write_text(json.dumps(PROVENANCE))
    return {**paths, "app": tmp_path / "app.tgz", "evil": tmp_path / "evil.tgz", "token": tmp_path / "token",
            "predicate": tmp_path / "predicate.json", "dir": tmp_path}


def _keyless(mock: MockSigstore, work: dict[str, Path]) -> list[str]:
    return ["--keyless", "--identity-token", str(work["token"]), "--trust-config", str(mock.trust_config)]


def _identity(mock: MockSigstore, subject: str = SUBJECT) -> list[str]:
    return ["--certificate-identity", subject, "--certificate-oidc-issuer", DEFAULT_ISSUER,
            "--trusted-root", str(mock.trusted_root)]


def test_slsacheck_keyless_blob_bundle_verifies_with_both_peers(
    cli: Cli, mock_sigstore: MockSigstore, work: dict[str, Path]
) -> None:
    bundle = work["dir"] / "app.sigstore.json"
    run = cli("sign-blob", *_keyless(mock_sigstore, work), "--bundle", str(bundle), str(work["app"]))
    assert run.code == 0, run.err
    tc, root = mock_sigstore.trust_config, mock_sigstore.trusted_root
    assert py_verify_identity(bundle, work["app"], trust_config=tc, identity=SUBJECT, issuer=DEFAULT_ISSUER)
    assert not py_verify_identity(bundle, work["evil"], trust_config=tc, identity=SUBJECT, issuer=DEFAULT_ISSUER)
    assert not py_verify_identity(bundle, work["app"], trust_config=tc, identity=OTHER, issuer=DEFAULT_ISSUER)
    js = js_verify(bundle, artifact=work["app"], trusted_root=root, identity=SUBJECT, issuer=DEFAULT_ISSUER)
    assert js, js.output
    assert not js_verify(bundle, artifact=work["evil"], trusted_root=root, identity=SUBJECT, issuer=DEFAULT_ISSUER)
    # and slsacheck itself
    ok = cli("verify-blob", "--bundle", str(bundle), *_identity(mock_sigstore), str(work["app"]))
    assert ok.code == 0, ok.err
    assert cli("verify-blob", "--bundle", str(bundle), *_identity(mock_sigstore, OTHER), str(work["app"])).code == 1


def test_slsacheck_keyless_attestation_verifies_with_both_peers(
    cli: Cli, mock_sigstore: MockSigstore, work: dict[str, Path]
) -> None:
    bundle = work["dir"] / "app.att.sigstore.json"
    run = cli("attest-blob", *_keyless(mock_sigstore, work), "--predicate", str(work["predicate"]),
              "--type", "slsaprovenance1", "--bundle", str(bundle), str(work["app"]))
    assert run.code == 0, run.err
    tc, root = mock_sigstore.trust_config, mock_sigstore.trusted_root
    py = py_verify_identity(bundle, work["app"], trust_config=tc, identity=SUBJECT, issuer=DEFAULT_ISSUER)
    assert py, py.output
    assert not py_verify_identity(bundle, work["evil"], trust_config=tc, identity=SUBJECT, issuer=DEFAULT_ISSUER)
    js = js_verify(bundle, artifact=work["app"], trusted_root=root, identity=SUBJECT, issuer=DEFAULT_ISSUER)
    assert js, js.output
    assert not js_verify(bundle, artifact=work["evil"], trusted_root=root, identity=SUBJECT, issuer=DEFAULT_ISSUER)
    ok = cli("verify-blob-attestation", "--bundle", str(bundle), *_identity(mock_sigstore),
             "--source-uri", "github.com/acme/app", "--source-tag", "v1", str(work["app"]))
    assert ok.code == 0, ok.out


def test_slsacheck_key_blob_bundle_verifies_with_sigstore_js(cli: Cli, work: dict[str, Path]) -> None:
    bundle = work["dir"] / "app.key.sigstore.json"
    assert cli("sign-blob", "--key", str(work["release"]), "--bundle", str(bundle), str(work["app"])).code == 0
    js = js_verify(bundle, artifact=work["app"], key=work["release.pub"])
    assert js, js.output
    assert not js_verify(bundle, artifact=work["evil"], key=work["release.pub"])


def test_peer_blob_bundles_verify_with_slsacheck(
    cli: Cli, mock_sigstore: MockSigstore, work: dict[str, Path]
) -> None:
    tc = mock_sigstore.trust_config
    token = work["token"].read_text()
    py_bundle, js_bundle = work["dir"] / "py.sigstore.json", work["dir"] / "js.sigstore.json"
    assert py_sign(py_bundle, work["app"], trust_config=tc, token=token)
    signed = js_sign_keyless(mock_sigstore.url, work["token"], work["app"], js_bundle)
    assert signed, signed.output
    for bundle in (py_bundle, js_bundle):
        ok = cli("verify-blob", "--bundle", str(bundle), *_identity(mock_sigstore), str(work["app"]))
        assert ok.code == 0, f"{bundle.name}: {ok.err}"
        tampered = cli("verify-blob", "--bundle", str(bundle), *_identity(mock_sigstore), str(work["evil"]))
        assert tampered.code == 1
        wrong = cli("verify-blob", "--bundle", str(bundle), *_identity(mock_sigstore, OTHER), str(work["app"]))
        assert wrong.code == 1 and "identity" in wrong.err.lower()


def test_sigstore_python_attestation_verifies_with_slsacheck(
    cli: Cli, mock_sigstore: MockSigstore, work: dict[str, Path]
) -> None:
    bundle = work["dir"] / "py.att.sigstore.json"
    made = sigstore_python(
        mock_sigstore.trust_config, "attest", "--identity-token", work["token"].read_text(),
        "--predicate", str(work["predicate"]), "--predicate-type", "https://slsa.dev/provenance/v1",
        "--bundle", str(bundle), str(work["app"]),
    )
    assert made, made.output
    base = ["verify-blob-attestation", "--bundle", str(bundle), "--type", "slsaprovenance1"]
    ok = cli(*base, *_identity(mock_sigstore), "--builder-id", "https://tekton.dev/chains/v2", str(work["app"]))
    assert ok.code == 0, ok.out
    assert cli(*base, *_identity(mock_sigstore), str(work["evil"])).code == 1
    assert cli(*base, *_identity(mock_sigstore, OTHER), str(work["app"])).code == 1
    assert cli(*base, *_identity(mock_sigstore), "--builder-id", "https://evil.example/b", str(work["app"])).code == 1
