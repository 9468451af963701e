"""Where audited images come from: `_catalog` and tag listings over pages, evidence tags skipped,
reference lists with comments; and what travels on the wire: a registry's 429 with
`Retry-After` is waited out and the image still audited."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from slsacheck.audit import sources
from slsacheck.audit.transport import Clients
from slsacheck.oci.options import RegistryOptions
from tests.audit import population as pop
from tests.audit.scenario import Expected, run_cli
from tests.support.proxy import Proxy
from tests.support.registry import RunningRegistry, start_registry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lonely_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A registry of its own: `_catalog` lists every repository, so no other test's may be in it."""
    with start_registry(tmp_path_factory.mktemp("catalog-registry"), "http") as running:
        yield running


def test_catalog_and_tags_over_pages_skip_evidence(lonely_registry: RunningRegistry, tmp_path: Path) -> None:
    keys = pop.make_keys(tmp_path)
    names = ["team-a/api", "team-a/web", "team-b/worker"]
    for name in names:
        store = lonely_registry.store(name)
        for tag in ("v1", "v2", "v3"):
            pop.push_image(store, tag, f"{name}-{tag}")
        pop.sign(store, lonely_registry.ref(name, "v1"), keys.release)  # adds a sha256-<hex>.sig tag
    clients = Clients(RegistryOptions(tags_page_size=2))
    assert list(sources.catalog(lonely_registry.host, clients.get, page_size=2)) == names
    listed = [t.text for t in sources.registry_repositories(lonely_registry.host, clients.get)]
    assert listed == [f"{lonely_registry.host}/{n}:{t}" for n in names for t in ("v1", "v2", "v3")]

    code, out, _ = run_cli("audit", "--registry", lonely_registry.host, "--format", "json", "--quiet")
    assert code == 0
    doc = json.loads(out)
    assert sorted(r["image"] for r in doc["images"]) == sorted(listed)
    signed = [r for r in doc["images"] if r["evidence"]["signatures"]]
    assert sorted(r["image"] for r in signed) == sorted(f"{lonely_registry.host}/{n}:v1" for n in names)


def test_an_unlisted_repository_is_an_outcome(lonely_registry: RunningRegistry) -> None:
    code, out, _ = run_cli("audit", "--repository", f"{lonely_registry.host}/no/such-repo", "--format", "json",
                        "--quiet")
    assert code == 3
    record = json.loads(out)["images"][0]
    assert record["outcome"] == "error" and "listing the tags" in record["error"]


def test_retry_after_is_honoured(scenario: Expected, audit_proxy: Proxy) -> None:
    image = f"{scenario.app}:good-7"
    path = f"/v2/{scenario.base}/app/manifests/good-7"
    audit_proxy.fail(path, 429, method="GET", times=1, headers={"Retry-After": "0"})
    before = audit_proxy.count("GET", path)
    code, out, _ = run_cli("audit", image, "--policy", str(scenario.policy), "--format", "json", "--quiet")
    assert code == 0, out
    assert json.loads(out)["images"][0]["outcome"] == "pass"
    assert audit_proxy.count("GET", path) - before == 2  # the 429, then the answer


def test_lists_skip_comments_and_report_bad_lines() -> None:
    text = "# header\nregistry.example/a:1\n   \nregistry.example/b@sha256:" + "a" * 64 + "  # pinned\nNOT VALID\n"
    targets = list(sources.from_lines(io.StringIO(text), "list.txt"))
    assert [t.text for t in targets] == ["registry.example/a:1", "registry.example/b@sha256:" + "a" * 64,
                                         "NOT VALID"]
    assert targets[2].ref is None and targets[2].error is not None and "list.txt:5" in targets[2].error


@pytest.mark.parametrize(("tag", "evidence"), [
    ("sha256-" + "0" * 64 + ".sig", True), ("sha256-" + "0" * 64 + ".att", True), ("sha256-" + "0" * 64, True),
    ("sha256-" + "0" * 64 + ".sbom", True), ("v1.2.3", False), ("sha256-abc", False), ("latest", False),
])
def test_evidence_tags(tag: str, evidence: bool) -> None:
    assert sources.is_evidence_tag(tag) is evidence


def test_catalog_behind_token_auth(registry_token: RunningRegistry, tmp_path: Path) -> None:
    """`_catalog` needs the `registry:catalog:*` token scope; the registry refuses it without."""
    name = "audit-catalog/token-app"
    pop.push_image(registry_token.store(name), "v1", "token-catalog")
    clients = Clients(registry_token.options)
    assert name in list(sources.catalog(registry_token.host, clients.get))
    assert registry_token.token_server is not None
    assert any("registry:catalog:*" in scopes for _, scopes in registry_token.token_server.issued)
    listed = [t.text for t in sources.repository_tags(f"{registry_token.host}/{name}", clients.get)]
    assert listed == [f"{registry_token.host}/{name}:v1"]


def test_registry_flags_reach_the_audit(registry_tls: RunningRegistry) -> None:
    """--ca-bundle is how a private CA is trusted; without it, TLS fails for that image only."""
    name = "audit-tls/app"
    pop.push_image(registry_tls.store(name), "v1", "tls")
    image = f"{registry_tls.host}/{name}:v1"
    assert registry_tls.ca_path is not None
    code, out, _ = run_cli("audit", image, "--ca-bundle", str(registry_tls.ca_path), "--format", "json", "--quiet")
    assert code == 0 and json.loads(out)["images"][0]["outcome"] == "inventory"
    code, out, _ = run_cli("audit", image, "--format", "json", "--quiet")
    assert code == 3
    record = json.loads(out)["images"][0]
    assert record["outcome"] == "error" and "certificate" in record["error"].lower()
