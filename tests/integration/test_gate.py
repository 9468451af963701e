"""`slsacheck verify --policy` (the gate) on the real registry and a layout.

An image signed and attested as the policy demands passes; an unsigned one fails on
`signatures.threshold`; an unreachable registry is exit 3 and never a pass; an image no
policy matches is decided without a registry call; a tag moved after resolution does
not change what is judged (the digest printed).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from slsacheck.models import ImageRef, Manifest
from slsacheck.models import mediatypes as mt
from slsacheck.oci import scratch
from slsacheck.oci.store import Store
from slsacheck.policy.load import load_policies
from slsacheck.verify.gate import verify_image
from tests.support.cli import Run, cli, registry_flags
from tests.support.gate_scenarios import validate_verdict
from tests.support.keys import write_key_pairs
from tests.support.policy_evidence import key_policy
from tests.support.registry import RunningRegistry, free_port, push_scratch
from tests.support.sigstore_mock import MockSigstore, mock_sigstore

__all__ = ["cli", "mock_sigstore"]  # the fixtures, imported for pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gate")
    write_key_pairs(out, "release", "other")
    (out / "pred.json").write_text('{"buildDefinition": {"buildType": "https://tekton.dev/chains/v2/slsa"}}')
    return out


def _policy(workdir: Path, include: str, *, name: str = "release", no_match: str = "deny") -> Path:
    path = workdir / f"{name}.yaml"
    path.write_text(key_policy(name, [include], no_match=no_match))
    return path


def _sign_and_attest(cli: Callable[..., Run], workdir: Path, text: str, flags: list[str]) -> None:
    assert cli("sign", "--key", str(workdir / "release.key"), text, *flags).code == 0
    assert cli("attest", "--key", str(workdir / "release.key"), "--type", "custom",
               "--predicate", str(workdir / "pred.json"), text, *flags).code == 0


def test_signed_and_attested_image_passes_unsigned_fails(
    cli: Callable[..., Run], registry_tls: RunningRegistry, repo_name: str, workdir: Path
) -> None:
    flags = registry_flags(registry_tls)
    policy = _policy(workdir, f"{registry_tls.host}/test/**")
    good = push_scratch(registry_tls, repo_name, "good", "good")
    push_scratch(registry_tls, repo_name, "bare", "bare")
    _sign_and_attest(cli, workdir, f"{registry_tls.host}/{repo_name}:good", flags)

    run = cli("verify", "--policy", str(policy), f"{registry_tls.host}/{repo_name}:good", *flags)
    assert run.code == 0, run.out
    assert str(good.digest) in run.out

    run = cli("verify", "--policy", str(policy), "--output", "json", f"{registry_tls.host}/{repo_name}:bare", *flags)
    assert run.code == 1
    doc = run.json()
    failed = {c["id"] for c in doc["checks"] if c["outcome"] == "fail"}
    assert failed == {"signatures.threshold", "attestations.provenance.present"}
    assert doc["outcome"] == "fail" and doc["policies"] == ["release"]
    validate_verdict(doc)


def test_signature_by_an_unlisted_key_fails_with_the_reason(
    cli: Callable[..., Run], registry_tls: RunningRegistry, repo_name: str, workdir: Path
) -> None:
    flags = registry_flags(registry_tls)
    policy = _policy(workdir, f"{registry_tls.host}/test/**")
    push_scratch(registry_tls, repo_name, "v1", "unlisted")
    text = f"{registry_tls.host}/{repo_name}:v1"
    assert cli("sign", "--key", str(workdir / "other.key"), "--format", "legacy", text, *flags).code == 0
    run = cli("verify", "--policy", str(policy), "--output", "json", text, *flags)
    assert run.code == 1
    threshold = next(c for c in run.json()["checks"] if c["id"] == "signatures.threshold")
    assert threshold["outcome"] == "fail" and "not one of authority" in threshold["found"]


def test_several_images_in_one_run(
    cli: Callable[..., Run], registry_tls: RunningRegistry, repo_name: str, workdir: Path
) -> None:
    flags = registry_flags(registry_tls)
    policy = _policy(workdir, f"{registry_tls.host}/test/**")
    push_scratch(registry_tls, repo_name, "a", "a")
    push_scratch(registry_tls, repo_name, "b", "b")
    _sign_and_attest(cli, workdir, f"{registry_tls.host}/{repo_name}:a", flags)
    run = cli("verify", "--policy", str(policy), "--output", "json",
              f"{registry_tls.host}/{repo_name}:a", f"{registry_tls.host}/{repo_name}:b", *flags)
    assert run.code == 1
    assert [v["outcome"] for v in run.json()] == ["pass", "fail"]


def test_registry_unreachable_is_exit_3_and_never_pass(cli: Callable[..., Run], workdir: Path) -> None:
    host = f"127.0.0.1:{free_port()}"
    policy = _policy(workdir, f"{host}/**", name="unreachable")
    run = cli("verify", "--policy", str(policy), "--output", "json", f"{host}/team/app:v1")
    assert run.code == 3
    doc = run.json()
    assert doc["outcome"] == "error" and doc["incomplete"] and doc["digest"] is None
    validate_verdict(doc)


def test_no_matching_policy_is_decided_without_a_registry_call(cli: Callable[..., Run], workdir: Path) -> None:
    # The image's registry does not exist: any call to it would make this exit 3.
    host = f"127.0.0.1:{free_port()}"
    deny = _policy(workdir, "registry.example.com/**", name="elsewhere")
    run = cli("verify", "--policy", str(deny), "--output", "json", f"{host}/team/app:v1")
    assert run.code == 1
    doc = run.json()
    assert [c["id"] for c in doc["checks"]] == ["policy.match"] and doc["outcome"] == "fail"
    run = cli("verify", "--policy", str(deny), "--no-match", "allow", f"{host}/team/app:v1")
    assert run.code == 0


class _TagMover:
    """A real registry store; right after the tag is resolved, another push moves it."""

    def __init__(self, inner: Store, tag: str, move_to: bytes) -> None:
        self.inner = inner
        self.tag = tag
        self.move_to = move_to
        self.moved = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def fetch_manifest(self, reference: str, **kwargs: Any) -> Manifest:
        manifest: Manifest = self.inner.fetch_manifest(reference, **kwargs)
        if reference == self.tag and not self.moved:
            self.moved = True
            self.inner.push_manifest(self.move_to, mt.OCI_MANIFEST, tag=self.tag)
        return manifest


def test_a_tag_moved_after_resolution_is_judged_by_the_digest_printed(
    cli: Callable[..., Run], registry_tls: RunningRegistry, repo_name: str, workdir: Path
) -> None:
    flags = registry_flags(registry_tls)
    signed = push_scratch(registry_tls, repo_name, "release", "signed")
    unsigned = push_scratch(registry_tls, repo_name, "scratch", "unsigned")
    _sign_and_attest(cli, workdir, f"{registry_tls.host}/{repo_name}:release", flags)
    policy_set = load_policies([_policy(workdir, f"{registry_tls.host}/test/**")])
    store = _TagMover(registry_tls.store(repo_name), "release", unsigned.manifest)
    ref = ImageRef.parse(f"{registry_tls.host}/{repo_name}:release")
    verdict = verify_image(ref, policy_set, options=registry_tls.options, now=datetime.now(UTC),
                           store=store)  # type: ignore[arg-type]
    assert store.moved
    assert verdict.digest == str(signed.digest) and verdict.passed
    # The tag now names the unsigned image, and a fresh run judges (and fails) that one.
    run = cli("verify", "--policy", str(workdir / "release.yaml"), "--output", "json",
              f"{registry_tls.host}/{repo_name}:release", *flags)
    assert run.code == 1 and run.json()["digest"] == str(unsigned.digest)


def test_gate_on_an_oci_layout(cli: Callable[..., Run], tmp_path: Path, workdir: Path) -> None:
    from slsacheck.oci.layout import LayoutStore

    layout = tmp_path / "img"
    built = scratch.image({"hello": b"layout"})
    scratch.push(LayoutStore(layout, create=True), built, tag="v1")
    policy = _policy(workdir, f"oci:{layout}", name="layout")
    assert cli("verify", "--policy", str(policy), f"oci:{layout}:v1").code == 1
    _sign_and_attest(cli, workdir, f"oci:{layout}:v1", [])
    run = cli("verify", "--policy", str(policy), "--output", "json", f"oci:{layout}:v1")
    assert run.code == 0, run.out
    assert run.json()["digest"] == str(built.digest)


def test_keyless_authority_in_a_policy(
    cli: Callable[..., Run], tmp_path: Path, workdir: Path, mock_sigstore: MockSigstore
) -> None:
    from slsacheck.oci.layout import LayoutStore

    layout = tmp_path / "img"
    scratch.push(LayoutStore(layout, create=True), scratch.image({"hello": b"keyless"}), tag="v1")
    subject = "https://kubernetes.io/namespaces/ci/serviceaccounts/pipeline"
    token = tmp_path / "token"
    token.write_text(mock_sigstore.token(subject))
    policy = tmp_path / "keyless.yaml"
    policy.write_text(textwrap.dedent(f"""\
        apiVersion: slsacheck.dev/v1alpha1
        kind: ImagePolicy
        metadata:
          name: keyless
        spec:
          images:
            include: ["oci:{layout}"]
          authorities:
            - name: pipeline
              keyless:
                trustedRoot: {mock_sigstore.trusted_root}
                identities:
                  - issuerRegExp: '.*'
                    subjectRegExp: '^https://kubernetes\\.io/namespaces/ci/serviceaccounts/pipeline$'
          signatures:
            authorities: [pipeline]
            threshold: 1
        """))
    text = f"oci:{layout}:v1"
    assert cli("verify", "--policy", str(policy), text).code == 1
    other = tmp_path / "other-token"
    other.write_text(mock_sigstore.token(subject + "-impostor"))
    keyless = ["--keyless", "--trust-config", str(mock_sigstore.trust_config)]
    assert cli("sign", *keyless, "--identity-token", str(other), text).code == 0
    run = cli("verify", "--policy", str(policy), "--output", "json", text)
    assert run.code == 1 and "certificate identity does not match" in run.out
    assert cli("sign", *keyless, "--identity-token", str(token), text).code == 0
    run = cli("verify", "--policy", str(policy), "--output", "json", text)
    assert run.code == 0, run.out
    assert len(run.json()["evidence"]["signatures"]["verified"]) == 2  # .sig layer and bundle referrer


def test_a_missing_image_is_an_error_verdict_and_the_others_are_judged(
    cli: Callable[..., Run], registry_tls: RunningRegistry, repo_name: str, workdir: Path
) -> None:
    flags = registry_flags(registry_tls)
    policy = _policy(workdir, f"{registry_tls.host}/test/**")
    push_scratch(registry_tls, repo_name, "a", "present")
    _sign_and_attest(cli, workdir, f"{registry_tls.host}/{repo_name}:a", flags)
    run = cli("verify", "--policy", str(policy), "--output", "json",
              f"{registry_tls.host}/{repo_name}:missing", f"{registry_tls.host}/{repo_name}:a", *flags)
    assert run.code == 3
    missing, present = run.json()
    assert missing["outcome"] == "error" and "missing" in missing["incomplete"][0]
    assert present["outcome"] == "pass"
