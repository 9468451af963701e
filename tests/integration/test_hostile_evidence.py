"""Evidence pushed by someone who may push to the repository (but not delete) never decides
the verdict, on the real registry.

The attacker's goal is always the same: an image whose newest trusted vulnerability scan
is CRITICAL must not pass. They push unsigned junk bundle referrers ahead of the trusted
scan, so that a verifier reading "the first N" never reaches it; list one big blob many
times so that a verifier reading each listing runs out of memory; or push junk JSON that
crashes the parser. Every case must end FAIL or incomplete (exit 3), never PASS, and
never a traceback.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from slsacheck.attach import cosign_tags as ct
from slsacheck.attach.predicates import PREDICATE_ALIASES
from slsacheck.attach.reading import MAX_CANDIDATES
from slsacheck.attach.referrers import bundle_artifact, fallback_tag
from slsacheck.attach.sign import attest_image, sign_image
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor
from slsacheck.models.digest import Digest
from slsacheck.models.reference import ImageRef
from slsacheck.oci import RegistryClient
from slsacheck.oci.registry import MAX_REFERRERS, RegistryStore
from slsacheck.oci.store import Store
from slsacheck.policy.load import load_policies
from slsacheck.provenance.vuln import vuln_predicate
from slsacheck.verify.gate import verify_image
from tests.support.cli import Run, cli, registry_flags
from tests.support.env import shared_file
from tests.support.gate_scenarios import KeyPair, key_pair, validate_verdict
from tests.support.proxy import run_proxy
from tests.support.registry import RunningRegistry, push_scratch

__all__ = ["cli"]  # the fixture, imported for pytest

pytestmark = pytest.mark.integration

VULN = PREDICATE_ALIASES["vuln"]
CLEAN_SCAN = "aquasecurity__trivy__integration__testdata__ubuntu-1804.json.golden"
CRITICAL_SCAN = "aquasecurity__trivy__integration__testdata__alpine-39.json.golden"


@pytest.fixture(scope="module")
def release() -> KeyPair:
    return key_pair()


def _policy(directory: Path, host: str, key: KeyPair) -> Path:
    (directory / "release.pub").write_bytes(key.public_pem)
    path = directory / "scan-policy.yaml"
    path.write_text(textwrap.dedent(f"""\
        apiVersion: slsacheck.dev/v1alpha1
        kind: ImagePolicy
        metadata: {{name: scans}}
        spec:
          images: {{include: ["{host}/**"]}}
          authorities: [{{name: release-key, key: {{file: release.pub}}}}]
          signatures: {{authorities: [release-key], threshold: 1}}
          attestations:
            - name: vulnerabilities
              predicateType: vuln
              authorities: [release-key]
              vulnerabilities: {{maxSeverity: HIGH}}
        """))
    return path


def _scan(name: str, hours_ago: float) -> dict[str, object]:
    finished = (datetime.now(UTC) - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return vuln_predicate(json.loads(shared_file("anchors", "vuln", name).read_text()), where=name,
                          finished_on=finished)


def _junk_referrers(store: Store, subject: Descriptor, count: int, *, repeat: int = 1) -> list[Descriptor]:
    """`count` unsigned bundle referrers of `subject`, pushed as an attacker would: the
    manifests by digest, then the fallback index rewritten at once (listing each `repeat` times)."""
    pushed = []
    store.push_blob(Descriptor.of(mt.EMPTY_JSON, mt.OCI_EMPTY), mt.EMPTY_JSON)
    for i in range(count):
        art = bundle_artifact({"mediaType": mt.SIGSTORE_BUNDLE_V03, "junk": i}, subject, "dsse-envelope",
                              predicate_type=VULN)
        store.push_blob(art.layer, art.bundle)
        store.push_manifest(art.manifest, mt.OCI_MANIFEST)
        pushed.append(art.descriptor)
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
             "manifests": [d.to_json() for d in pushed for _ in range(repeat)]}
    store.push_manifest(json.dumps(index).encode(), mt.OCI_INDEX, tag=fallback_tag(subject.digest))
    return pushed


def _image_with_clean_scan(reg: RunningRegistry, repo: str, key: KeyPair) -> tuple[RegistryStore, ImageRef]:
    """Signed, with an older clean scan in the `.att` tag: what passes before the new scan."""
    push_scratch(reg, repo, "v1", repo)
    store, ref = reg.store(repo), reg.ref(repo, "v1")
    sign_image(store, ref, key.signer, fmt="legacy")
    attest_image(store, ref, key.signer, predicate_type=VULN, predicate=_scan(CLEAN_SCAN, 6), fmt="legacy")
    return store, ref


def _subject(store: Store, ref: ImageRef) -> Descriptor:
    return store.fetch_manifest(ref.identifier).descriptor


def test_junk_referrers_past_the_cap_before_a_critical_scan_never_pass(
    registry_tls: RunningRegistry, repo_name: str, release: KeyPair, tmp_path: Path, cli: Callable[..., Run]
) -> None:
    store, ref = _image_with_clean_scan(registry_tls, repo_name, release)
    policy = _policy(tmp_path, registry_tls.host, release)
    policies = load_policies([policy])
    before = verify_image(ref, policies, options=registry_tls.options)
    assert before.outcome == "pass", before.to_json()

    subject = _subject(store, ref)
    _junk_referrers(store, subject, MAX_CANDIDATES + 1)
    # The trusted, newer CRITICAL scan comes last in upload and listing order.
    attest_image(store, ref, release.signer, predicate_type=VULN, predicate=_scan(CRITICAL_SCAN, 1), fmt="bundle")

    verdict = verify_image(ref, policies, options=registry_tls.options)
    assert verdict.outcome == "error", verdict.to_json()
    reason = " ".join(verdict.incomplete)
    assert f"{MAX_CANDIDATES + 2} Sigstore bundle referrers" in reason and f"the {MAX_CANDIDATES} read" in reason
    doc = verdict.to_json()
    assert doc["evidence"]["limits"]["candidatesPerPlace"] == MAX_CANDIDATES
    validate_verdict(doc)

    run = cli("verify", "--policy", str(policy), "--output", "json", str(ref), *registry_flags(registry_tls))
    assert run.code == 3, run.out
    assert any(c["id"] == "verification.complete" and c["outcome"] == "fail" for c in run.json()["checks"])


def test_junk_referrers_under_the_cap_are_rejected_and_the_critical_scan_fails(
    registry_tls: RunningRegistry, repo_name: str, release: KeyPair, tmp_path: Path
) -> None:
    store, ref = _image_with_clean_scan(registry_tls, repo_name, release)
    # One junk referrer listed many times over the cap is ONE referrer: read once, rejected once.
    _junk_referrers(store, _subject(store, ref), 3, repeat=MAX_CANDIDATES)
    attest_image(store, ref, release.signer, predicate_type=VULN, predicate=_scan(CRITICAL_SCAN, 1), fmt="bundle")
    verdict = verify_image(ref, load_policies([_policy(tmp_path, registry_tls.host, release)]),
                           options=registry_tls.options)
    assert verdict.outcome == "fail" and not verdict.incomplete, verdict.to_json()
    assert {c.id for c in verdict.checks if c.outcome.value == "fail"} == {"vulnerabilities.maxSeverity"}
    rejected = verdict.to_json()["evidence"]["attestations"]["rejected"]
    assert len([r for r in rejected if "referrer" in r["source"]]) == 3


def _padded_sig(store: Store, digest: Digest, blob: bytes, times: int) -> None:
    """A `.sig` manifest listing one unsigned blob `times` times (distinct annotations, so
    a reader that dedupes by descriptor would still read each)."""
    layers = [ct.Layer(blob, mt.SIMPLE_SIGNING, {mt.ANN_SIGNATURE: f"AAAA{i:04d}"}) for i in range(times)]
    store.push_blob(layers[0].descriptor, blob)
    merged = ct.merge_layers(None, [layer.descriptor for layer in layers])
    store.push_blob(Descriptor.of(merged.config, mt.OCI_CONFIG), merged.config)
    store.push_manifest(merged.manifest, mt.OCI_MANIFEST, tag=ct.signature_tag(digest))


class _Counting:
    """The real registry store, counting blob fetches by digest."""

    def __init__(self, inner: RegistryStore) -> None:
        self.inner = inner
        self.fetched: dict[Digest, int] = {}

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def fetch_blob(self, descriptor: Descriptor, **kwargs: object) -> bytes:
        self.fetched[descriptor.digest] = self.fetched.get(descriptor.digest, 0) + 1
        return self.inner.fetch_blob(descriptor, **kwargs)  # type: ignore[arg-type]


def test_one_big_blob_listed_many_times_is_fetched_once_and_the_budget_is_enforced(
    registry_tls: RunningRegistry, repo_name: str, release: KeyPair, tmp_path: Path, cli: Callable[..., Run]
) -> None:
    built = push_scratch(registry_tls, repo_name, "v1", repo_name)
    store, ref = registry_tls.store(repo_name), registry_tls.ref(repo_name, "v1")
    big = b"{" + b" " * (3 * 1024 * 1024) + b"}"
    _padded_sig(store, built.digest, big, 40)
    policy = _policy(tmp_path, registry_tls.host, release)

    counting = _Counting(store)
    verdict = verify_image(ref, load_policies([policy]), options=registry_tls.options, store=counting)  # type: ignore[arg-type]
    assert counting.fetched[Digest.of(big)] == 1
    assert verdict.outcome == "fail" and not verdict.incomplete  # 3 MiB read once: within the budget
    assert verdict.to_json()["evidence"]["limits"]["evidenceBytesRead"] < 4 * 1024 * 1024

    # Under a 2 MiB budget the same blob cannot be read: not judged, and said so.
    run = cli("verify", "--policy", str(policy), "--output", "json", "--max-evidence-mib", "2", str(ref),
              *registry_flags(registry_tls))
    assert run.code == 3, run.out
    doc = run.json()
    assert any("2097152-byte budget" in line for line in doc["incomplete"])
    assert doc["evidence"]["limits"]["evidenceBytes"] == 2 * 1024 * 1024
    validate_verdict(doc)


def test_a_deeply_nested_sig_manifest_is_rejected_and_never_a_traceback(
    registry_tls: RunningRegistry, repo_name: str, release: KeyPair, tmp_path: Path, cli: Callable[..., Run]
) -> None:
    store, ref = _image_with_clean_scan(registry_tls, repo_name, release)
    digest = _subject(store, ref).digest
    config = Descriptor.of(mt.EMPTY_JSON, mt.OCI_EMPTY)
    store.push_blob(config, mt.EMPTY_JSON)
    # Go's parser (the registry's) takes 5000 levels; Python's recursion limit is 1000.
    deep = "[" * 5000 + "]" * 5000
    raw = (f'{{"schemaVersion":2,"mediaType":"{mt.OCI_MANIFEST}","config":{json.dumps(config.to_json())},'
           f'"layers":[],"x":{deep}}}').encode()
    store.push_manifest(raw, mt.OCI_MANIFEST, tag=ct.signature_tag(digest))
    policy = _policy(tmp_path, registry_tls.host, release)
    for argv in (("verify", "--policy", str(policy)), ("verify", "--key", str(tmp_path / "release.pub")),
                 ("inspect",)):
        run = cli(*argv, str(ref), *registry_flags(registry_tls))
        assert "Traceback" not in run.err and "RecursionError" not in run.out + run.err, (argv, run.err)
        assert run.code in {0, 1, 2}, (argv, run.code, run.out, run.err)
    run = cli("verify", "--policy", str(policy), "--output", "json", str(ref), *registry_flags(registry_tls))
    assert run.code == 1
    rejected = run.json()["evidence"]["signatures"]["rejected"]
    assert any("signature manifest is unusable" in r["reason"] and "nested deeper" in r["reason"] for r in rejected)


def test_a_flood_of_referrers_from_the_referrers_api_is_not_read_into_memory(
    registry_http: RunningRegistry, repo_name: str, release: KeyPair, tmp_path: Path
) -> None:
    """A registry with the referrers API (played by a proxy in front of the real one) whose
    listing never ends: the reader stops past MAX_REFERRERS and the verdict is incomplete."""
    built = push_scratch(registry_http, repo_name, "v1", repo_name)
    entries = [Descriptor(mt.OCI_MANIFEST, Digest.of(b"%d" % i), 100, artifact_type=mt.SIGSTORE_BUNDLE_V03).to_json()
               for i in range(5000)]
    page = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}).encode()
    with run_proxy(registry_http.host) as proxy:
        link = f'</v2/{repo_name}/referrers/{built.digest}?page=again>; rel="next"'
        proxy.respond(f"/referrers/{built.digest}", 200, page, headers={"Content-Type": mt.OCI_INDEX, "Link": link})
        store = RegistryStore(RegistryClient(proxy.host, registry_http.options), repo_name)
        ref = ImageRef.parse(f"{proxy.host}/{repo_name}:v1")
        verdict = verify_image(ref, load_policies([_policy(tmp_path, proxy.host, release)]), store=store)
        assert proxy.count("GET", "/referrers/") <= MAX_REFERRERS // 5000 + 1
    assert verdict.outcome == "error", verdict.to_json()
    assert any(f"more than {MAX_REFERRERS} referrers" in line for line in verdict.incomplete), verdict.incomplete
