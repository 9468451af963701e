"""verify, promote and audit choose policies by the registry's canonical name, as the webhook does.

One signed image (no provenance) on the real TLS registry; a strict policy names the
registry as `127.0.0.1:PORT` and demands provenance, a catch-all baseline accepts any
signature by the release key. Whatever the spelling of the registry in the reference
(`localhost:PORT`, `LOCALHOST:PORT`), the strict policy judges the image and fails it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli import Run, cli, registry_flags
from tests.support.keys import write_key_pairs
from tests.support.policy_evidence import key_policy
from tests.support.registry import RunningRegistry, push_scratch

__all__ = ["cli"]  # the fixture, imported for pytest

pytestmark = pytest.mark.integration


def _spellings(registry: RunningRegistry) -> list[str]:
    port = registry.host.rsplit(":", 1)[1]
    return [registry.host, f"localhost:{port}", f"LOCALHOST:{port}"]


@pytest.fixture
def setup(cli: Callable[..., Run], registry_tls: RunningRegistry, repo_name: str,
          tmp_path: Path) -> tuple[list[str], Path]:
    write_key_pairs(tmp_path, "release")
    (tmp_path / "strict.yaml").write_text(
        key_policy("strict", [f"{registry_tls.host}/{repo_name}/**"], attestation="slsaprovenance1"))
    (tmp_path / "baseline.yaml").write_text(key_policy("baseline", ["**"], attestation=None))
    push_scratch(registry_tls, f"{repo_name}/app", "v1", f"{repo_name}-names")
    text = f"{registry_tls.host}/{repo_name}/app:v1"
    assert cli("sign", "--key", str(tmp_path / "release.key"), text, *registry_flags(registry_tls)).code == 0
    policies = ["--policy", str(tmp_path / "strict.yaml"), "--policy", str(tmp_path / "baseline.yaml")]
    return policies, tmp_path


def test_verify_applies_the_strict_policy_to_every_spelling(
    cli: Callable[..., Run], registry_tls: RunningRegistry, repo_name: str, setup: tuple[list[str], Path]
) -> None:
    policies, _ = setup
    for host in _spellings(registry_tls):
        run = cli("verify", *policies, "--output", "json", f"{host}/{repo_name}/app:v1", *registry_flags(registry_tls))
        doc = run.json()
        assert run.code == 1, (host, doc)
        assert doc["policies"] == ["strict", "baseline"], host
        failed = {c["id"] for c in doc["checks"] if c["outcome"] == "fail"}
        assert failed == {"attestations.provenance.present"}, (host, failed)


def test_promote_and_audit_apply_the_strict_policy_to_every_spelling(
    cli: Callable[..., Run], registry_tls: RunningRegistry, repo_name: str, setup: tuple[list[str], Path]
) -> None:
    policies, workdir = setup
    flags = registry_flags(registry_tls)
    for i, host in enumerate(_spellings(registry_tls)):
        dest = workdir / f"handover{i}"
        run = cli("promote", f"{host}/{repo_name}/app:v1", f"oci:{dest}:v1", *policies, "--output", "json", *flags)
        assert run.code == 1, (host, run.out, run.err)
        assert "attestations.provenance.present" in run.out, host
        assert not (dest / "index.json").exists() or "v1" not in (dest / "index.json").read_text(), host
    images = [f"{host}/{repo_name}/app:v1" for host in _spellings(registry_tls)]
    run = cli("audit", *policies, "--format", "json", "--quiet", *images, *flags)
    assert run.code == 1, run.err
    records = run.json()["images"]
    assert len(records) == len(images)
    for record in records:
        assert record["verdict"]["policies"] == ["strict", "baseline"], record["image"]
        assert record["outcome"] == "fail", record["image"]
