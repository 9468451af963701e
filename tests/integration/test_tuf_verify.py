"""Keyless verification with no `--trusted-root`: the root comes from the TUF cache.

An image on the real loopback registry carries a cosign keyless `.sig` layer made with the
private Sigstore (certificate from its CA, SET from its Rekor key). A TUF repository built
in the test vouches for that Sigstore's `trusted_root.json`. After `trusted-root update`,
`verify --certificate-identity ... --tuf-mirror URL` passes with no file given; a policy
authority naming the mirror updates by itself (and says so); `--offline` never fetches;
and a mirror that vouches for another Sigstore's root makes the same signature fail.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from tests.support.cli import Cli, Run, cli, registry_flags
from tests.support.keyless_image import sign_keyless
from tests.support.private_sigstore import ISSUER, SUBJECT, PrivateSigstore, make_private_sigstore
from tests.support.registry import RunningRegistry, push_scratch
from tests.support.sigstore_mock import MockSigstore, mock_sigstore
from tests.support.tuf_repo import TufRepo, keyless_tuf_policy

__all__ = ["cli", "mock_sigstore"]

pytestmark = pytest.mark.integration



@pytest.fixture(scope="module")
def sigstore() -> PrivateSigstore:
    return make_private_sigstore()


@dataclass(frozen=True)
class Setup:
    cli: Cli
    reg: RunningRegistry
    image: str
    repo: TufRepo
    url: str
    folder: Path

    def verify(self, *extra: str) -> Run:
        return self.cli("verify", "--certificate-identity", SUBJECT, "--certificate-oidc-issuer", ISSUER,
                        "--output", "json", *extra, self.image, *registry_flags(self.reg))

    def update(self) -> Run:
        return self.cli("trusted-root", "update", "--mirror", self.url, "--root", str(self.folder / "root.json"))

    def policy(self) -> Path:
        (self.folder / "root.json").write_bytes(self.repo.initial_root)
        path = self.folder / "policy.yaml"
        path.write_text(keyless_tuf_policy(f"{self.reg.host}/**", self.url, ISSUER, SUBJECT))
        return path


def _sign_keyless(reg: RunningRegistry, repo: str, sigstore: PrivateSigstore) -> str:
    built = push_scratch(reg, repo, "v1", repo)
    sign_keyless(reg.store(repo), f"{reg.host}/{repo}", built.digest, sigstore)
    return f"{reg.host}/{repo}:v1"


@pytest.fixture
def setup(
    cli: Cli, registry_http: RunningRegistry, repo_name: str, tmp_path: Path, *, sigstore: PrivateSigstore,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Setup]:
    monkeypatch.setenv("SLSACHECK_CACHE", str(tmp_path / "cache"))
    image = _sign_keyless(registry_http, repo_name, sigstore)
    repo = TufRepo({"trusted_root.json": json.dumps(sigstore.doc).encode()})
    (tmp_path / "root.json").write_bytes(repo.initial_root)
    with repo.served() as url:
        yield Setup(cli, registry_http, image, repo, url, tmp_path)


def test_update_then_verify_keyless_without_a_trusted_root_file(setup: Setup) -> None:
    assert setup.update().code == 0
    run = setup.verify("--tuf-mirror", setup.url)
    assert run.code == 0, run.out + run.err
    assert run.json()["outcome"] == "pass"
    assert "fetching" not in run.err  # the cached root was fresh: nothing fetched
    offline = setup.verify("--tuf-mirror", setup.url, "--offline")
    assert offline.code == 0, offline.err


def test_a_mirror_vouching_for_another_sigstore_makes_the_signature_fail(setup: Setup) -> None:
    setup.repo.content["trusted_root.json"] = json.dumps(make_private_sigstore().doc).encode()
    setup.repo.publish()
    assert setup.update().code == 0
    run = setup.verify("--tuf-mirror", setup.url)
    assert run.code == 1, run.out + run.err
    assert run.json()["outcome"] == "fail"


def test_offline_with_nothing_cached_fails_with_a_hint(setup: Setup) -> None:
    run = setup.verify("--tuf-mirror", setup.url, "--offline")
    assert run.code == 3
    assert setup.url in run.err and "trusted-root update" in run.err and "--offline" in run.err
    public = setup.verify("--offline")  # the public-good default, never fetched offline
    assert public.code == 3 and "tuf-repo-cdn.sigstore.dev" in public.err


def test_offline_with_an_expired_root_fails_and_online_updates_it(setup: Setup) -> None:
    setup.repo.timestamp.signed.expires = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=2)
    setup.repo.publish_timestamp()
    assert setup.update().code == 0
    time.sleep(3)  # the cached timestamp metadata is now past its expiry
    offline = setup.verify("--tuf-mirror", setup.url, "--offline")
    assert offline.code == 3 and "expired" in offline.err
    setup.repo.timestamp.signed.expires = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=1)
    setup.repo.publish_timestamp()
    online = setup.verify("--tuf-mirror", setup.url)
    assert online.code == 0, online.err
    assert f"fetching the Sigstore trust root from {setup.url}" in online.err


def test_a_policy_naming_a_tuf_mirror_updates_by_itself_and_says_so(setup: Setup) -> None:
    policy = setup.policy()
    run = setup.cli("verify", "--policy", str(policy), "--output", "json", setup.image, *registry_flags(setup.reg))
    assert run.code == 0, run.out + run.err
    assert f"fetching the Sigstore trust root from {setup.url} through TUF" in run.err
    again = setup.cli("verify", "--policy", str(policy), "--offline", setup.image, *registry_flags(setup.reg))
    assert again.code == 0 and "fetching" not in again.err


def test_a_policy_mirror_serving_unverifiable_metadata_is_not_a_pass(setup: Setup) -> None:
    from securesystemslib.signer import CryptoSigner

    setup.repo.publish(sign_with={"targets": CryptoSigner.generate_ed25519()})
    run = setup.cli("verify", "--policy", str(setup.policy()), setup.image, *registry_flags(setup.reg))
    assert run.code == 1 and "does not verify" in run.err and setup.url in run.err


def test_a_policy_whose_initial_tuf_root_is_missing_does_not_load(setup: Setup) -> None:
    policy = setup.policy()
    (setup.folder / "root.json").unlink()
    run = setup.cli("verify", "--policy", str(policy), setup.image, *registry_flags(setup.reg))
    assert run.code == 2 and "initial TUF root" in run.err


def test_keyless_sign_and_verify_with_one_tuf_mirror_and_no_trust_files(
    cli: Cli, mock_sigstore: MockSigstore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loopback mock Sigstore's trust root and signing config, published through TUF: sign
    with the signing config TUF vouched for, verify with its root; no --trust-config, no file."""
    monkeypatch.setenv("SLSACHECK_CACHE", str(tmp_path / "cache"))
    store = LayoutStore(tmp_path / "layout", create=True)
    scratch.push(store, scratch.image({"hello": b"tuf"}), tag="v1")
    image = f"oci:{tmp_path / 'layout'}:v1"
    repo = TufRepo({"trusted_root.json": mock_sigstore.trusted_root.read_bytes(),
                    "signing_config.v0.2.json": mock_sigstore.signing_config.read_bytes()})
    (tmp_path / "root.json").write_bytes(repo.initial_root)
    subject = "https://kubernetes.io/namespaces/ci/serviceaccounts/tuf-signer"
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", mock_sigstore.token(subject))
    with repo.served() as url:
        assert cli("trusted-root", "update", "--mirror", url, "--root", str(tmp_path / "root.json")).code == 0
        signed = cli("sign", "--keyless", "--tuf-mirror", url, image)
        assert signed.code == 0, signed.err
        identity = ["--certificate-identity", subject, "--certificate-oidc-issuer-regexp", ".*"]
        run = cli("verify", *identity, "--tuf-mirror", url, "--offline", image)
        assert run.code == 0, run.out + run.err
        other = cli("verify", "--certificate-identity", subject + "-not", "--certificate-oidc-issuer-regexp", ".*",
                    "--tuf-mirror", url, "--offline", image)
        assert other.code == 1


def test_audit_uses_the_tuf_root_and_offline_never_fetches(setup: Setup) -> None:
    policy = setup.policy()
    offline = setup.cli("audit", "--policy", str(policy), "--offline", "--quiet", setup.image,
                        *registry_flags(setup.reg))
    assert offline.code == 3 and "trusted-root update" in offline.err and setup.url in offline.err
    run = setup.cli("audit", "--policy", str(policy), "--quiet", "--format", "json", setup.image,
                    *registry_flags(setup.reg))
    assert run.code == 0, run.out + run.err
    assert f"fetching the Sigstore trust root from {setup.url}" in run.err
    assert run.json()["summary"]["outcomes"].get("pass") == 1


def test_a_long_run_takes_the_refreshed_root_once_the_one_it_holds_expires(setup: Setup) -> None:
    from slsacheck.signing.tuf_source import Mirror
    from slsacheck.verify.authorities import TrustRoots

    setup.repo.timestamp.signed.expires = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=2)
    setup.repo.publish_timestamp()
    assert setup.update().code == 0
    roots, mirror = TrustRoots(), Mirror(setup.url)
    first = roots.get(mirror)
    assert roots.get(mirror) is first
    rotated = make_private_sigstore()
    setup.repo.content["trusted_root.json"] = json.dumps(rotated.doc).encode()
    setup.repo.timestamp.signed.expires = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=1)
    setup.repo.publish()
    time.sleep(3)  # the held root's metadata is now past its expiry
    assert roots.get(mirror).raw == setup.repo.content["trusted_root.json"]


def test_verify_bundle_with_the_tuf_root(cli: Cli, mock_sigstore: MockSigstore, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from slsacheck.signing.keyless import KeylessSigner

    monkeypatch.setenv("SLSACHECK_CACHE", str(tmp_path / "cache"))
    subject = "https://kubernetes.io/namespaces/ci/serviceaccounts/bundle-signer"
    artifact = tmp_path / "artifact.txt"
    artifact.write_bytes(b"release notes")
    signed = KeylessSigner(mock_sigstore.token(subject), trust_config=str(mock_sigstore.trust_config))
    bundle = tmp_path / "artifact.sigstore.json"
    material = signed.sign_message(artifact.read_bytes()).material
    bundle.write_text(json.dumps(material.sigstore_bundle))
    repo = TufRepo({"trusted_root.json": mock_sigstore.trusted_root.read_bytes()})
    (tmp_path / "root.json").write_bytes(repo.initial_root)
    flags = ["verify-bundle", "--bundle", str(bundle), "--certificate-identity", subject,
             "--certificate-oidc-issuer-regexp", ".*"]
    with repo.served() as url:
        assert cli("trusted-root", "update", "--mirror", url, "--root", str(tmp_path / "root.json")).code == 0
        run = cli(*flags, "--tuf-mirror", url, "--offline", str(artifact))
        assert run.code == 0, run.err
        # the same bundle against a mirror vouching for another Sigstore: refused
        repo.content["trusted_root.json"] = json.dumps(make_private_sigstore().doc).encode()
        repo.publish()
        assert cli("trusted-root", "update", "--mirror", url).code == 0
        assert cli(*flags, "--tuf-mirror", url, "--offline", str(artifact)).code == 1
