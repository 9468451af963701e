"""The pattern grammar: `**` crosses `/`, `*` and `?` do not, everything else is literal."""

from __future__ import annotations

import pytest

from slsacheck.policy.globs import GlobError, compile_glob, compile_image_glob, image_name
from slsacheck.policy.provenance_rules import builder_matches, normalise_repo, repo_matches


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("registry.example.com/acme/**", "registry.example.com/acme/app", True),
        ("registry.example.com/acme/**", "registry.example.com/acme/team/app", True),
        ("registry.example.com/acme/**", "registry.example.com/acme", False),
        ("registry.example.com/acme/*", "registry.example.com/acme/app", True),
        ("registry.example.com/acme/*", "registry.example.com/acme/team/app", False),
        ("registry.example.com/acme/app?", "registry.example.com/acme/app1", True),
        ("registry.example.com/acme/app?", "registry.example.com/acme/app/", False),
        ("registry.example.com/acme/a.p", "registry.example.com/acme/axp", False),  # '.' is literal
        ("refs/tags/v*", "refs/tags/v1.2.3", True),
        ("refs/tags/v*", "refs/tags/v1/evil", False),
        ("refs/heads/main", "refs/heads/main2", False),  # anchored at both ends
        ("**", "anything/at/all", True),
    ],
)
def test_glob_semantics(pattern: str, text: str, matches: bool) -> None:
    assert compile_glob(pattern).match(text) is matches


@pytest.mark.parametrize("pattern", ["", "a[bc]", "a{b,c}", "a b", "a/***", "x\n"])
def test_patterns_outside_the_grammar_are_refused(pattern: str) -> None:
    with pytest.raises(GlobError):
        compile_glob(pattern)


def test_image_patterns_are_normalised_like_image_names() -> None:
    assert compile_image_glob("docker.io/library/*").match(image_name("alpine:3.19"))
    assert compile_image_glob("index.docker.io/library/*").match(image_name("docker.io/library/alpine"))
    assert compile_image_glob("registry.example.com/acme/**").match(
        image_name("registry.example.com/acme/app:1.0@sha256:" + "a" * 64)
    )
    assert not compile_image_glob("registry.example.com/acme/*").match(image_name("registry.example.com/acme2/app"))
    assert compile_image_glob("localhost:5000/**").match(image_name("localhost:5000/x/y:latest"))
    for bad in ("acme/**", "*.example.com/app", "registry.example.com/Acme/*"):
        with pytest.raises(GlobError):
            compile_image_glob(bad)


@pytest.mark.parametrize(
    ("pattern", "uri", "matches"),
    [
        ("https://github.com/acme/*", "git+https://github.com/acme/app.git", True),
        ("https://github.com/acme/*", "git+https://github.com/acme/app@refs/heads/main", True),
        ("https://github.com/acme/*", "https://GitHub.com/acme/app/", True),
        ("https://github.com/acme/*", "git+http://github.com/acme/app", False),  # a scheme in the pattern binds
        ("github.com/acme/app", "git+ssh://git@github.com/acme/app.git", False),  # user info is part of the host
        ("github.com/acme/app", "git+https://github.com/acme/app.git", True),
        ("github.com/acme/app", "git+https://github.com/acme/app-fork.git", False),
    ],
)
def test_repository_patterns(pattern: str, uri: str, matches: bool) -> None:
    assert repo_matches(compile_glob(pattern), uri) is matches


def test_normalise_repo_keeps_user_info_apart_from_refs() -> None:
    assert normalise_repo("git+ssh://git@github.com/acme/app.git@refs/tags/v1") == "ssh://git@github.com/acme/app"


@pytest.mark.parametrize(
    ("pattern", "builder", "matches"),
    [
        ("https://b/x.yml", "https://b/x.yml@refs/tags/v2.1.0", True),
        ("https://b/x.yml@v2.1.0", "https://b/x.yml@refs/tags/v2.1.0", True),
        ("https://b/x.yml@v2.1.0", "https://b/x.yml@refs/tags/v2.1.1", False),
        ("https://b/x.yml", "https://b/x.yml.evil@v1", False),
    ],
)
def test_builder_ids_without_a_version_accept_any_version(pattern: str, builder: str, matches: bool) -> None:
    assert builder_matches(compile_glob(pattern), builder) is matches
