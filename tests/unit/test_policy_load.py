"""Loading and linting policy files: the POLICY.md example, the shipped policies, and
malformed files, each refused with the line, path and what was expected."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from slsacheck.cli import main
from slsacheck.errors import PolicyError
from slsacheck.policy.authority import KeyAuthority, KeylessAuthority
from slsacheck.policy.explain import explain
from slsacheck.policy.load import load_policies
from slsacheck.policy.problems import PolicyLoadError, Problem
from tests.support.env import ROOT
from tests.support.policy_evidence import public_pem, write_policy

# The example of ../shared/POLICY.md (the project's own document), written out.
POLICY_MD_EXAMPLE = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata:
  name: prod-tekton-slsa3
spec:
  mode: enforce                      # enforce | warn
  images:                            # which images this policy judges
    include: ["registry.example.com/acme/**"]      # ** crosses "/", * does not
    exclude: ["registry.example.com/acme/sandbox/**"]

  authorities:                       # who may sign; referenced by name below
    - name: release-key
      key:
        file: keys/release.pub       # or pem: "-----BEGIN PUBLIC KEY-----..." or env: RELEASE_PUB
    - name: tekton-keyless
      keyless:
        trustedRoot: trust/trusted_root.json       # offline: no TUF, no network
        identities:
          - issuer: https://kubernetes.default.svc.cluster.local
            subjectRegExp: '^https://kubernetes\\.io/namespaces/ci/serviceaccounts/pipeline$'
        requireTlog: true            # a Rekor SET or inclusion proof must verify

  signatures:                        # signatures on the image itself
    authorities: [release-key, tekton-keyless]
    threshold: 1                     # distinct authorities that must have signed

  attestations:                      # every entry must be satisfied
    - name: provenance
      predicateType: slsaprovenance1 # cosign alias or full URI
      authorities: [tekton-keyless, release-key]   # who must have signed the attestation
      provenance:
        builderIds: ["https://tekton.dev/chains/v2"]
        buildTypes: ["https://tekton.dev/chains/v2/slsa"]
        source:
          repositories: ["git+https://github.com/acme/*"]
          refs: ["refs/heads/main", "refs/tags/v*"]
          requireCommit: true        # a full 40/64-hex SHA, never a branch name
        tasks:
          required: [git-clone, trivy-scan, build-push]
          trustedRefs: ["oci://registry.example.com/tekton/*"]
        stepImages:
          requireDigest: true
          allowedRegistries: ["registry.example.com", "gcr.io/kaniko-project"]
        maxAge: 168h                 # since runDetails.metadata.finishedOn
      conditions:                    # CEL over the in-toto statement
        - expr: >-
            !predicate.buildDefinition.externalParameters.runSpec.params.exists(p,
              string(p.value).contains("--skip-tls-verify"))
          message: builds must not skip TLS verification

    - name: vulnerabilities
      predicateType: vuln
      authorities: [tekton-keyless, release-key]
      vulnerabilities:
        maxSeverity: HIGH            # any CRITICAL fails
        ignoreIds: [CVE-2024-0001]
        maxAge: 72h                  # since the scan finished

  exceptions:
    - images: ["registry.example.com/acme/legacy/**"]
      checks: [provenance.stepImages]
      until: 2027-03-31
      reason: legacy base image pinned by tag until migration
"""


def _problems(tmp_path: Path, text: str) -> list[Problem]:
    file = write_policy(tmp_path, text)
    with pytest.raises(PolicyLoadError) as info:
        load_policies([file])
    assert isinstance(info.value, PolicyError)
    return list(info.value.problems)


def _one(tmp_path: Path, text: str) -> Problem:
    problems = _problems(tmp_path, text)
    assert len(problems) == 1, [p.render() for p in problems]
    return problems[0]


def _line_of(text: str, needle: str, nth: int = 0) -> int:
    lines = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return lines[nth]


def test_policy_md_example_loads(tmp_path: Path) -> None:
    ps = load_policies([write_policy(tmp_path, POLICY_MD_EXAMPLE)])
    (p,) = ps.policies
    assert p.name == "prod-tekton-slsa3" and p.mode == "enforce" and ps.no_match == "deny"
    assert isinstance(p.authorities["release-key"], KeyAuthority)
    keyless = p.authorities["tekton-keyless"]
    assert isinstance(keyless, KeylessAuthority) and keyless.trusted_root == tmp_path / "trust/trusted_root.json"
    assert keyless.require_tlog
    prov, vuln = p.attestations
    assert prov.predicate_type == "https://slsa.dev/provenance/v1"
    assert vuln.predicate_type == "https://cosign.sigstore.dev/attestation/vuln/v1"
    assert prov.provenance is not None and prov.provenance.max_age == timedelta(hours=168)
    assert vuln.vulnerabilities is not None and vuln.vulnerabilities.ignore_ids == {"CVE-2024-0001"}
    assert p.exceptions[0].until.isoformat() == "2027-03-31"
    assert ps.matching("registry.example.com/acme/app:1") == [p]
    assert ps.matching("registry.example.com/acme/sandbox/x@sha256:" + "a" * 64) == []
    assert "provenance.tasks.required" in explain(ps)


def test_digest_is_stable_and_follows_content(tmp_path: Path) -> None:
    file = write_policy(tmp_path, POLICY_MD_EXAMPLE)
    first, again = load_policies([file]).digest(), load_policies([file]).digest()
    assert first == again and first.startswith("sha256:")
    (tmp_path / "keys/release.pub").write_bytes(public_pem())  # a rotated key changes the policy
    assert load_policies([file]).digest() != first
    assert load_policies([file], no_match="allow").digest() != load_policies([file]).digest()


def test_key_sources_pem_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pem = public_pem().decode()
    monkeypatch.setenv("RELEASE_PUB", pem + pem)  # two keys (rotation)
    text = POLICY_MD_EXAMPLE.replace("file: keys/release.pub", "env: RELEASE_PUB")
    (p,) = load_policies([write_policy(tmp_path, text, keys=())]).policies
    auth = p.authorities["release-key"]
    assert isinstance(auth, KeyAuthority) and len(auth.public_keys) == 2
    indented = "\n".join("          " + line for line in pem.splitlines())
    text = POLICY_MD_EXAMPLE.replace("file: keys/release.pub", f"pem: |\n{indented}")
    (p,) = load_policies([write_policy(tmp_path, text, keys=())]).policies
    assert isinstance(p.authorities["release-key"], KeyAuthority)


def test_missing_env_key_and_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_PUB", raising=False)
    text = POLICY_MD_EXAMPLE.replace("file: keys/release.pub", "env: NO_SUCH_PUB")
    problem = _one(tmp_path, text)
    assert problem.line == _line_of(text, "env: NO_SUCH_PUB") and "NO_SUCH_PUB" in problem.message
    (tmp_path / "trust/trusted_root.json").unlink()
    text = POLICY_MD_EXAMPLE.replace("trust/trusted_root.json", "trust/missing.json")
    problem = _one(tmp_path, text)
    assert problem.line == _line_of(text, "trustedRoot:") and "trusted root" in problem.message


def test_not_a_public_key(tmp_path: Path) -> None:
    file = write_policy(tmp_path, POLICY_MD_EXAMPLE)
    (tmp_path / "keys/release.pub").write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    with pytest.raises(PolicyLoadError) as info:
        load_policies([file])
    assert info.value.line == _line_of(POLICY_MD_EXAMPLE, "file: keys/release.pub")


@pytest.mark.parametrize(
    ("old", "new", "needle", "path", "words"),
    [
        # wrong types
        ("threshold: 1 ", "threshold: one ", "threshold: one", "spec.signatures.threshold", "wrong type"),
        (
            "requireCommit: true",
            "requireCommit: [yes]",
            "requireCommit:",
            "spec.attestations[0].provenance.source.requireCommit",
            "wrong type",
        ),
        ("mode: enforce", "mode: audit", "mode: audit", "spec.mode", "value not allowed"),
        # unknown keys, with the closest valid name
        ("    threshold: 1 ", "    treshold: 1 ", "treshold", "spec.signatures.treshold", "did you mean 'threshold'"),
        (
            "        builderIds:",
            "        builderId:",
            "builderId:",
            "spec.attestations[0].provenance.builderId",
            "did you mean 'builderIds'",
        ),
        (
            "          refs:",
            "          ref:",
            "          ref:",
            "spec.attestations[0].provenance.source.ref",
            "did you mean 'refs'",
        ),
        # bad globs and regexps
        (
            'include: ["registry.example.com/acme/**"]',
            'include: ["registry.example.com/acme/[ab]"]',
            "include:",
            "spec.images.include[0]",
            "no spaces, classes or braces",
        ),
        (
            'refs: ["refs/heads/main", "refs/tags/v*"]',
            'refs: ["refs/heads/main", "refs/tags/***"]',
            "refs:",
            "spec.attestations[0].provenance.source.refs[1]",
            "'***' is ambiguous",
        ),
        (
            'include: ["registry.example.com/acme/**"]',
            'include: ["acme/**"]',
            "include:",
            "spec.images.include[0]",
            "starts with the registry",
        ),
        (
            "subjectRegExp: '^https",
            "subjectRegExp: '^(https",
            "subjectRegExp",
            "spec.authorities[1].keyless.identities[0].subjectRegExp",
            "bad regular expression",
        ),
        # CEL that does not compile
        (
            'string(p.value).contains("--skip-tls-verify"))',
            'string(p.value).contains("--skip-tls-verify")',
            "- expr:",
            "spec.attestations[0].conditions[0].expr",
            "CEL does not compile",
        ),
        # empty lists, threshold 0, unknown authority, threshold above the listed authorities
        (
            "authorities: [tekton-keyless, release-key]   #",
            "authorities: []   #",
            "authorities: []",
            "spec.attestations[0].authorities",
            "empty list",
        ),
        ("threshold: 1 ", "threshold: 0 ", "threshold: 0", "spec.signatures.threshold", "too small"),
        ("threshold: 1 ", "threshold: 3 ", "threshold: 3", "spec.signatures.threshold", "larger than the number"),
        (
            "authorities: [release-key, tekton-keyless]",
            "authorities: [release-kee, tekton-keyless]",
            "release-kee",
            "spec.signatures.authorities[0]",
            "did you mean 'release-key'",
        ),
        (
            "required: [git-clone, trivy-scan, build-push]",
            "required: []",
            "required: []",
            "spec.attestations[0].provenance.tasks.required",
            "empty list",
        ),
        # durations and dates
        ("maxAge: 168h", "maxAge: 1 week", "maxAge: 1 week", "spec.attestations[0].provenance.maxAge", "168h, 30m, 7d"),
        ("until: 2027-03-31", "until: 2027-02-30", "until:", "spec.exceptions[0].until", "not a date"),
        ("until: 2027-03-31", "until: next year", "until:", "spec.exceptions[0].until", "YYYY-MM-DD"),
        (
            "checks: [provenance.stepImages]",
            "checks: [provenance.stepImage]",
            "checks:",
            "spec.exceptions[0].checks[0]",
            "did you mean 'provenance.stepImages'",
        ),
        (
            "checks: [provenance.stepImages]",
            "checks: [verification.complete]",
            "checks:",
            "spec.exceptions[0].checks[0]",
            "cannot be exempted",
        ),
        (
            "predicateType: vuln",
            "predicateType: vulnerability",
            "predicateType: vulnerability",
            "spec.attestations[1].predicateType",
            "cosign alias",
        ),
    ],
)
def test_malformed_policy_is_refused_with_its_line(  # noqa: PLR0917 - one parameter per column
    tmp_path: Path, old: str, new: str, needle: str, path: str, words: str
) -> None:
    assert old in POLICY_MD_EXAMPLE
    text = POLICY_MD_EXAMPLE.replace(old, new, 1)
    problem = _one(tmp_path, text)
    assert problem.line == _line_of(text, needle), problem.render()
    assert problem.path == path
    assert words in problem.render()
    assert str(tmp_path / "policy.yaml") in problem.render()


def test_policy_without_authorities_is_an_error(tmp_path: Path) -> None:
    text = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata: {name: empty}
spec:
  images: {include: ["registry.example.com/**"]}
  authorities: []
  signatures: {authorities: [x]}
"""
    problems = _problems(tmp_path, text)
    assert problems[0].path == "spec.authorities" and problems[0].line == 6
    assert "empty list" in problems[0].message


def test_policy_that_checks_nothing_is_an_error(tmp_path: Path) -> None:
    text = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata: {name: nothing}
spec:
  images: {include: ["registry.example.com/**"]}
  authorities:
    - name: k
      key: {file: keys/release.pub}
"""
    problem = _one(tmp_path, text)
    assert problem.path == "spec" and problem.line == 5
    assert "signatures" in (problem.expected or "")


def test_authority_with_both_key_and_keyless(tmp_path: Path) -> None:
    text = POLICY_MD_EXAMPLE.replace(
        "        file: keys/release.pub       # or pem",
        "        file: keys/release.pub\n"
        "      keyless: {trustedRoot: trust/trusted_root.json, identities: [{issuer: a, subject: b}]}  # or pem",
    )
    problem = _one(tmp_path, text)
    assert problem.path == "spec.authorities[0]" and problem.line == _line_of(text, "- name: release-key")
    assert "exactly one of `key` or `keyless`" in (problem.expected or "")


def test_duplicate_keys_and_yaml_syntax(tmp_path: Path) -> None:
    text = POLICY_MD_EXAMPLE.replace("    threshold: 1 ", "    threshold: 1\n    threshold: 2 ", 1)
    problem = _one(tmp_path, text)
    assert problem.line == _line_of(text, "threshold: 2") and "duplicate key" in problem.message
    problem = _one(tmp_path, "spec: [unclosed\n")
    assert problem.line is not None and "not valid YAML" in problem.message


def test_two_typed_entries_of_one_kind_are_ambiguous(tmp_path: Path) -> None:
    text = POLICY_MD_EXAMPLE.replace(
        "      vulnerabilities:\n        maxSeverity: HIGH",
        "      provenance:\n        builderIds: [x]\n      vulnerabilities:\n        maxSeverity: HIGH",
    )
    problem = _one(tmp_path, text)
    assert problem.path == "spec.attestations[1].provenance" and "already appear" in problem.message


def test_all_problems_are_reported(tmp_path: Path) -> None:
    text = POLICY_MD_EXAMPLE.replace("threshold: 1 ", "threshold: 0 ").replace("mode: enforce", "mode: audit")
    problems = _problems(tmp_path, text)
    assert [p.path for p in problems] == ["spec.mode", "spec.signatures.threshold"]


def test_multi_document_files_and_unique_names(tmp_path: Path) -> None:
    second = POLICY_MD_EXAMPLE.replace("name: prod-tekton-slsa3", "name: second").replace("noMatch", "x")
    second = second.replace("  mode: enforce", "  mode: warn\n  noMatch: warn")
    file = write_policy(tmp_path, POLICY_MD_EXAMPLE + "---\n" + second)
    ps = load_policies([file])
    assert [p.name for p in ps.policies] == ["prod-tekton-slsa3", "second"]
    assert ps.no_match == "deny"  # the strictest wins
    assert load_policies([file], no_match="warn").no_match == "warn"
    with pytest.raises(PolicyLoadError) as info:
        load_policies([file, file])
    assert "also used" in info.value.problems[0].message


def test_shipped_policies_load_flat_beside_their_keys(tmp_path: Path) -> None:
    """Every shipped policy loads from one flat directory (what a ConfigMap mounts), its keys beside it."""
    shipped = sorted((ROOT / "policies").glob("*.yaml"))
    for path in shipped:
        shutil.copy(path, tmp_path / path.name)
    write_policy(tmp_path, "", name="unused.yaml", keys=("cosign.pub",), roots=("trusted_root.json",))
    os.remove(tmp_path / "unused.yaml")
    ps = load_policies(sorted(tmp_path.glob("*.yaml")))
    assert {p.name for p in ps.policies} == {path.stem for path in shipped}
    assert {"tekton-slsa3", "key-signed-only", "vulnerability-gate", "tekton-pipeline"} <= {p.name for p in ps.policies}


def test_cli_lint_and_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_policy(tmp_path, POLICY_MD_EXAMPLE)
    assert main(["policy", "lint", str(good)]) == 0
    assert "ok: 1 policy" in capsys.readouterr().out
    bad = write_policy(tmp_path, POLICY_MD_EXAMPLE.replace("    threshold: 1 ", "    treshold: 1 "), name="bad.yaml")
    assert main(["policy", "lint", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:{_line_of(POLICY_MD_EXAMPLE, 'threshold: 1 ')}: spec.signatures.treshold: unknown key" in err
    assert main(["policy", "explain", str(good)]) == 0
    out = capsys.readouterr().out
    assert "[signatures.threshold]" in out and "refs/tags/v*" in out
    assert main(["policy", "explain", str(bad)]) == 2


def test_paths_resolve_relative_to_the_policy_file_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "configmap"
    shared = tmp_path / "shared-keys"
    text = (ROOT / "policies" / "tekton-slsa3.yaml").read_text()
    text = text.replace("file: cosign.pub", "file: ../shared-keys/r.pub")
    policy = write_policy(here, text, name="p.yaml", keys=("../shared-keys/r.pub",), roots=("trusted_root.json",))
    elsewhere = tmp_path / "elsewhere"
    # Decoys where a cwd-relative reading would look: loading them would be the bug.
    write_policy(elsewhere, "", name="unused.yaml", keys=("cosign.pub", "shared-keys/r.pub", "../shared-keys/x.pub"),
                 roots=("trusted_root.json",))
    monkeypatch.chdir(elsewhere)
    loaded = load_policies([os.path.relpath(policy, elsewhere)]).policies[0]
    key, keyless = loaded.authorities["release-key"], loaded.authorities["tekton-chains"]
    assert isinstance(key, KeyAuthority) and [k.strip() for k in key.public_keys] == [
        (shared / "r.pub").read_bytes().strip()]
    assert isinstance(keyless, KeylessAuthority) and keyless.trusted_root == here / "trusted_root.json"
