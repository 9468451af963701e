"""URLs are normalised before a pattern sees them, and refused when they have no safe form.

The attacker writes the provenance (or the parameters it records): every spelling that a
server would resolve to another place than the text suggests must either be brought to
its one spelling or fail the check with the reason.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from slsacheck.models.verdict import Outcome
from slsacheck.policy import checkids as ids
from slsacheck.policy.build import normalise_repo_pattern
from slsacheck.policy.globs import Glob, compile_glob
from slsacheck.policy.model import ProvenanceRules, SourceRules
from slsacheck.policy.provenance_facts import provenance_facts
from slsacheck.policy.provenance_rules import builder_matches, provenance_checks, repo_matches
from slsacheck.policy.urls import UnsafeURL, normalise_pattern, normalise_url
from slsacheck.provenance.slsa_v1 import SLSA_PROVENANCE_V1

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def _repo_glob(pattern: str) -> Glob:
    return Glob(pattern, compile_glob(normalise_repo_pattern(pattern)).regex)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("git+https://gitlab.com/acme/app/../../evil/app", "'..' path segment"),
        ("https://gitlab.com/acme/./app", "'.' path segment"),
        ("https://gitlab.com/acme/%2e%2e/%2e%2e/evil/app", "percent-encoded dot"),
        ("https://gitlab.com/acme/%2E%2E/evil", "percent-encoded dot"),
        ("https://gitlab.com/acme/..%2fevil", "percent-encoded slash"),
        ("https://gitlab.com/acme/..%5Cevil", "percent-encoded backslash"),
        ("https://gitlab.com/acme//evil/app", "empty path segment"),
        ("https://gitlab.com@evil.example/acme/app", "user information"),
        ("https://user:secret@gitlab.com/acme/app", "user information"),
        ("https://gitlab.com\\@evil.example/acme/app", "backslash"),
        ("https://gitlab.com/acme/app\n", "control character"),
        ("https://gitlab%2ecom/acme/app", "percent-encoded host"),
        ("https://gitlab.com:x/acme/app", "port that is not a number"),
        ("https://gitlab.com/acme/%zz", "starts no percent-encoding"),
        ("git@gitlab.com:acme/app.git", "not a URL"),
    ],
)
def test_urls_without_a_safe_form_are_refused(url: str, reason: str) -> None:
    with pytest.raises(UnsafeURL, match=reason):
        normalise_url(url, repository=True)
    assert not repo_matches(_repo_glob("https://gitlab.com/acme/**"), url)
    assert not repo_matches(_repo_glob("gitlab.com/**"), url)


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("git+HTTPS://GitLab.COM:443/acme/app.git", "https://gitlab.com/acme/app"),
        ("http://gitlab.com:80/acme/app/", "http://gitlab.com/acme/app"),
        ("https://gitlab.com:8443/acme/app", "https://gitlab.com:8443/acme/app"),
        ("https://gitlab.com./acme/app?x=1#frag", "https://gitlab.com/acme/app"),
        ("https://gitlab.com/%61cme/app", "https://gitlab.com/acme/app"),
        ("ssh://git@GitHub.com:22/acme/app.git", "ssh://git@github.com/acme/app"),
        ("oci://127.0.0.1:443/tekton/tasks", "oci://localhost/tekton/tasks"),
    ],
)
def test_urls_are_brought_to_one_spelling(url: str, normal: str) -> None:
    assert normalise_url(url, repository=True) == normal


def test_patterns_are_spelled_like_urls() -> None:
    assert normalise_pattern("git+https://GitLab.com:443/acme/**", repository=True) == "https://gitlab.com/acme/**"
    assert normalise_pattern("GitLab.com/acme/*") == "gitlab.com/acme/*"
    assert repo_matches(_repo_glob("https://gitlab.com:443/acme/*"), "git+https://GITLAB.com/acme/app")
    assert repo_matches(_repo_glob("https://gitlab.com/acme/**"), "git+https://gitlab.com/acme/team/app")


def test_builder_ids_are_normalised_and_traversal_refused() -> None:
    glob = compile_glob(normalise_pattern("https://tekton.dev/chains/v2"))
    assert builder_matches(glob, "HTTPS://Tekton.dev:443/chains/v2")
    wide = compile_glob(normalise_pattern("https://builder.example.com/trusted/**"))
    assert not builder_matches(wide, "https://builder.example.com/trusted/../untrusted/x")
    assert not builder_matches(wide, "https://builder.example.com/trusted/%2e%2e/untrusted/x")
    assert builder_matches(wide, "https://builder.example.com/trusted/x.yml@refs/tags/v1")


def _statement(git_url: str, builder: str = "https://tekton.dev/chains/v2") -> dict[str, Any]:
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "x", "digest": {"sha256": "ab" * 32}}],
        "predicateType": SLSA_PROVENANCE_V1,
        "predicate": {
            "buildDefinition": {
                "buildType": "https://tekton.dev/chains/v2/slsa",
                "externalParameters": {},
                "resolvedDependencies": [
                    {"uri": git_url, "digest": {"sha1": "0123456789abcdef0123456789abcdef01234567"}},
                ],
            },
            "runDetails": {"builder": {"id": builder}, "metadata": {"finishedOn": "2026-11-26T00:00:00Z"}},
        },
    }


@pytest.mark.parametrize(
    "git_url",
    [
        "git+https://gitlab.com/acme/app/../../evil/app",
        "git+https://gitlab.com/acme/%2e%2e/%2e%2e/evil/app",
        "git+https://gitlab.com/acme/app/%2E%2E/%2E%2E/evil/app.git",
        "git+https://gitlab.com@evil.example/acme/app",
    ],
)
def test_source_repository_check_fails_with_the_reason(git_url: str) -> None:
    rules = ProvenanceRules(source=SourceRules(repositories=(_repo_glob("https://gitlab.com/acme/**"),)))
    good = provenance_checks(rules, provenance_facts(_statement("git+https://gitlab.com/acme/app")), now=NOW)
    assert [c.outcome for c in good] == [Outcome.PASS]
    (check,) = provenance_checks(rules, provenance_facts(_statement(git_url)), now=NOW)
    assert check.id == ids.PROVENANCE_REPOS and check.outcome is Outcome.FAIL
    assert "refused:" in (check.found or ""), check.found


def test_builder_check_says_why_a_builder_id_is_refused() -> None:
    rules = ProvenanceRules(builder_ids=(compile_glob(normalise_pattern("https://tekton.dev/chains/**")),))
    statement = copy.deepcopy(_statement("git+https://gitlab.com/acme/app", "https://tekton.dev/chains/../evil"))
    (check,) = provenance_checks(rules, provenance_facts(statement), now=NOW)
    assert check.outcome is Outcome.FAIL and "refused: a '..' path segment" in (check.found or "")
