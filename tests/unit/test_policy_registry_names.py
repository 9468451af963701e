"""One registry, one set of policies: names are canonical before policies are chosen.

The trap: a strict policy for one registry and a lenient catch-all. Any other spelling of
the same registry (case, a default port, Docker Hub's names, a loopback alias, a mirror)
that the strict patterns miss gets only the catch-all. Each spelling here must choose the
strict policy too; `policy lint` warns about the catch-all that would judge alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from slsacheck.models.reference import ImageRef, canonical_registry
from slsacheck.models.verdict import Outcome
from slsacheck.policy.build import _registry_prefix
from slsacheck.policy.globs import canonical_image_name
from slsacheck.policy.lint import lint_warnings
from slsacheck.policy.load import load_policies
from slsacheck.policy.model import ProvenanceRules, StepImageRules
from slsacheck.policy.problems import PolicyLoadError
from slsacheck.policy.provenance_facts import ProvenanceFacts, StepImage
from slsacheck.policy.provenance_rules import provenance_checks
from tests.support.cli import Cli, cli
from tests.support.policy_evidence import NOW, key_policy, public_pem

__all__ = ["cli"]


@pytest.mark.parametrize(
    ("registry", "canonical"),
    [
        ("LOCALHOST:5000", "localhost:5000"),
        ("127.0.0.1:5000", "localhost:5000"),
        ("127.0.0.2:5000", "localhost:5000"),
        ("127.1:5000", "localhost:5000"),
        ("2130706433:5000", "localhost:5000"),
        ("0x7f.0.0.1:5000", "localhost:5000"),
        ("0.0.0.0:5000", "localhost:5000"),
        ("[::1]:5000", "localhost:5000"),
        ("[0:0:0:0:0:0:0:1]:5000", "localhost:5000"),
        ("[::ffff:127.0.0.1]:5000", "localhost:5000"),
        ("registry.localhost:5000", "localhost:5000"),
        ("Registry.Example.COM:443", "registry.example.com"),
        ("registry.example.com:80", "registry.example.com"),
        ("registry.example.com:8443", "registry.example.com:8443"),
        ("docker.io", "index.docker.io"),
        ("registry-1.docker.io:443", "index.docker.io"),
        ("10.1:5000", "10.0.0.1:5000"),
        ("[2001:DB8::0001]:5000", "[2001:db8::1]:5000"),
    ],
)
def test_canonical_registry_names(registry: str, canonical: str) -> None:
    assert canonical_registry(registry) == canonical


def test_a_reference_keeps_its_spelling_for_connecting() -> None:
    ref = ImageRef.parse("LOCALHOST:5000/prod/app:v1")
    assert ref.registry == "LOCALHOST:5000"  # what the client dials
    assert ref.canonical_name == "localhost:5000/prod/app"
    assert ImageRef.parse("docker.io:443/alpine").canonical_name == "index.docker.io/library/alpine"


def _key(directory: Path) -> None:
    key = directory / "release.pub"
    if not key.exists():
        key.write_bytes(public_pem())


def _write(directory: Path, name: str, include: list[str], **kwargs: str | None) -> Path:
    _key(directory)
    path = directory / f"{name}.yaml"
    path.write_text(key_policy(name, include, **kwargs))  # type: ignore[arg-type]
    return path


def _strict_and_baseline(tmp_path: Path, strict_include: str) -> list[Path]:
    strict = _write(tmp_path, "strict", [strict_include], attestation="slsaprovenance1")
    baseline = _write(tmp_path, "baseline", ["**"], attestation=None)
    return [strict, baseline]


@pytest.mark.parametrize(
    ("pattern", "image"),
    [
        ("127.0.0.1:5000/prod/**", "localhost:5000/prod/app:v1"),
        ("127.0.0.1:5000/prod/**", "LOCALHOST:5000/prod/app:v1"),
        ("127.0.0.1:5000/prod/**", "[::1]:5000/prod/app@sha256:" + "a" * 64),
        ("localhost:5000/prod/**", "127.0.0.1:5000/prod/app"),
        ("LOCALHOST:5000/prod/**", "localhost:5000/prod/app"),
        ("registry.example.com/prod/**", "registry.example.com:443/prod/app:v1"),
        ("registry.example.com/prod/**", "REGISTRY.example.com/prod/app:v1"),
        ("registry.example.com:443/prod/**", "registry.example.com/prod/app"),
        ("docker.io/acme/**", "index.docker.io/acme/app"),
        ("index.docker.io/library/*", "docker.io/alpine"),
        ("index.docker.io/library/*", "alpine"),
    ],
)
def test_every_spelling_of_a_registry_chooses_the_strict_policy(tmp_path: Path, pattern: str, image: str) -> None:
    policies = load_policies(_strict_and_baseline(tmp_path, pattern))
    assert [p.name for p in policies.matching(image)] == ["strict", "baseline"]
    assert [p.name for p in policies.matching(ImageRef.parse(image))] == ["strict", "baseline"]


def test_another_port_is_another_registry(tmp_path: Path) -> None:
    policies = load_policies(_strict_and_baseline(tmp_path, "registry.example.com/prod/**"))
    assert [p.name for p in policies.matching("registry.example.com:5000/prod/app")] == ["baseline"]


ALIASES = """\
  registryAliases:
    - registry: registry.example.com
      aliases: [mirror.example.com, "10.0.0.5:5000"]
"""


def test_declared_aliases_choose_the_registry_policies_in_every_file(tmp_path: Path) -> None:
    strict = _write(tmp_path, "strict", ["registry.example.com/prod/**"], attestation="slsaprovenance1")
    # The alias is declared in another file: one registry has one name for the whole set.
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(key_policy("baseline", ["**"], attestation=None).replace("spec:\n", "spec:\n" + ALIASES, 1))
    policies = load_policies([strict, baseline])
    for image in ("mirror.example.com/prod/app:v1", "MIRROR.example.com:443/prod/app", "10.0.0.5:5000/prod/app"):
        assert [p.name for p in policies.matching(image)] == ["strict", "baseline"], image
        assert canonical_image_name(image, policies.policies[0].registry_aliases) == "registry.example.com/prod/app"
    assert [p.name for p in policies.matching("other.example.com/prod/app")] == ["baseline"]


def test_exceptions_cover_an_image_through_its_aliases(tmp_path: Path) -> None:
    text = key_policy("p", ["registry.example.com/**"], attestation=None).replace("spec:\n", "spec:\n" + ALIASES, 1)
    text += "  exceptions:\n    - images: [registry.example.com/legacy/**]\n      checks: [signatures.threshold]\n" \
            "      until: 2999-01-01\n      reason: migrating\n"
    _key(tmp_path)
    (tmp_path / "p.yaml").write_text(text)
    (policy,) = load_policies([tmp_path / "p.yaml"]).policies
    assert policy.exceptions[0].covers_image(policy.canonical_name("mirror.example.com/legacy/app"))


@pytest.mark.parametrize(
    ("first", "second", "says"),
    [
        ("registry.example.com", "other.example.com", "is an alias of 'other.example.com' here and of"),
        ("registry.example.com", "mirror.example.com", "cycle"),
    ],
)
def test_conflicting_aliases_are_load_errors(tmp_path: Path, first: str, second: str, says: str) -> None:
    a = key_policy("a", ["**"], attestation=None).replace(
        "spec:\n", f"spec:\n  registryAliases:\n    - registry: {first}\n      aliases: [mirror.example.com]\n", 1)
    b_alias = "mirror.example.com" if second == "other.example.com" else "registry.example.com"
    b = key_policy("b", ["**"], attestation=None).replace(
        "spec:\n", f"spec:\n  registryAliases:\n    - registry: {second}\n      aliases: [{b_alias}]\n", 1)
    _key(tmp_path)
    (tmp_path / "a.yaml").write_text(a)
    (tmp_path / "b.yaml").write_text(b)
    with pytest.raises(PolicyLoadError, match=says):
        load_policies([tmp_path / "a.yaml", tmp_path / "b.yaml"])


def test_an_alias_that_is_the_registry_already_is_a_problem(tmp_path: Path) -> None:
    text = key_policy("a", ["**"], attestation=None).replace(
        "spec:\n", "spec:\n  registryAliases:\n    - registry: localhost:5000\n      aliases: ['127.0.0.1:5000']\n", 1)
    _key(tmp_path)
    (tmp_path / "a.yaml").write_text(text)
    with pytest.raises(PolicyLoadError, match="is 'localhost:5000' already"):
        load_policies([tmp_path / "a.yaml"])


def test_lint_warns_about_a_catch_all_weaker_than_a_specific_policy(tmp_path: Path, cli: Cli) -> None:
    files = _strict_and_baseline(tmp_path, "registry.example.com/prod/**")
    (warning,) = lint_warnings(load_policies(files))
    assert "policy 'baseline' judges every image of policy 'strict'" in warning.message
    assert "an attestation of type https://slsa.dev/provenance/v1" in warning.message
    run = cli("policy", "lint", *map(str, files))
    assert run.code == 0 and "1 warning(s)" in run.out
    assert "warning: " in run.err and "spec.registryAliases" in run.err
    # A catch-all as strict as the specific policy leaves no gap.
    even = _write(tmp_path, "baseline", ["**"], attestation="slsaprovenance1")
    assert lint_warnings(load_policies([files[0], even])) == []


@pytest.mark.parametrize(
    ("allowed", "step_image", "ok"),
    [
        ("Registry.Example.com:443/tools", "registry.example.com/tools/buildah", True),
        ("registry.example.com/tools", "REGISTRY.example.com:443/tools/buildah", True),
        ("127.0.0.1:5000", "localhost:5000/tools/buildah", True),
        ("registry.example.com/tools", "registry.example.com/tools-evil/buildah", False),
        ("registry.example.com", "registry.example.com.evil.example/tools/buildah", False),
        ("registry.example.com", "registry.example.com:5000/tools/buildah", False),
    ],
)
def test_step_image_registries_are_compared_by_canonical_name(allowed: str, step_image: str, ok: bool) -> None:
    rules = ProvenanceRules(step_images=StepImageRules(True, (_registry_prefix(allowed),)))
    facts = ProvenanceFacts("v1", step_images=(StepImage(step_image, "sha256:" + "1" * 64, "here"),))
    (check,) = provenance_checks(rules, facts, now=NOW)
    assert (check.outcome is Outcome.PASS) is ok, check.found
