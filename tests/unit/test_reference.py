"""Image references parse and print as Docker and cosign do; bad ones say which part is wrong."""

from __future__ import annotations

import pytest

from slsacheck.errors import InvalidReference
from slsacheck.models import Digest, ImageRef

HEX = "a" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "printed"),
    [
        ("alpine", "index.docker.io", "library/alpine", None, "index.docker.io/library/alpine:latest"),
        ("alpine:3.20", "index.docker.io", "library/alpine", "3.20", "index.docker.io/library/alpine:3.20"),
        ("docker.io/alpine", "index.docker.io", "library/alpine", None, "index.docker.io/library/alpine:latest"),
        ("index.docker.io/org/app:v1", "index.docker.io", "org/app", "v1", "index.docker.io/org/app:v1"),
        ("user/app", "index.docker.io", "user/app", None, "index.docker.io/user/app:latest"),
        ("localhost/app", "localhost", "app", None, "localhost/app:latest"),
        ("localhost:5000/a/b/c:t", "localhost:5000", "a/b/c", "t", "localhost:5000/a/b/c:t"),
        ("127.0.0.1:5000/x", "127.0.0.1:5000", "x", None, "127.0.0.1:5000/x:latest"),
        ("[::1]:5000/x:y", "[::1]:5000", "x", "y", "[::1]:5000/x:y"),
        ("[fe80::1]/x", "[fe80::1]", "x", None, "[fe80::1]/x:latest"),
        ("gcr.io/kaniko-project/executor:v1.23.2-debug", "gcr.io", "kaniko-project/executor",
         "v1.23.2-debug", "gcr.io/kaniko-project/executor:v1.23.2-debug"),
        ("reg.example.com/a__b/c-d/e.f/g---h", "reg.example.com", "a__b/c-d/e.f/g---h", None,
         "reg.example.com/a__b/c-d/e.f/g---h:latest"),
    ],
)
def test_parse_and_print(text: str, registry: str, repository: str, tag: str | None, printed: str) -> None:
    ref = ImageRef.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, None)
    assert str(ref) == printed
    assert str(ImageRef.parse(str(ref))) == printed


def test_digest_and_tag_plus_digest() -> None:
    ref = ImageRef.parse(f"ghcr.io/org/app@sha256:{HEX}")
    assert ref.digest == Digest("sha256", HEX) and ref.tag is None
    assert ref.identifier == f"sha256:{HEX}"
    both = ImageRef.parse(f"ghcr.io/org/app:v1@sha256:{HEX}")
    assert both.tag == "v1" and both.identifier == f"sha256:{HEX}"
    assert str(both) == f"ghcr.io/org/app:v1@sha256:{HEX}"
    long = ImageRef.parse(f"ghcr.io/org/app@sha512:{'b' * 128}")
    assert long.digest is not None and long.digest.algorithm == "sha512"


def test_with_digest_drops_tag_unless_asked() -> None:
    ref = ImageRef.parse("ghcr.io/org/app:v1")
    pinned = ref.with_digest(Digest("sha256", HEX))
    assert str(pinned) == f"ghcr.io/org/app@sha256:{HEX}"
    assert ref.with_digest(Digest("sha256", HEX), keep_tag=True).tag == "v1"


@pytest.mark.parametrize(
    ("text", "layout", "tag", "digest"),
    [
        ("oci:/tmp/lay", "/tmp/lay", None, None),
        ("oci:lay:v1", "lay", "v1", None),
        (f"oci:./lay@sha256:{HEX}", "./lay", None, Digest("sha256", HEX)),
    ],
)
def test_layout_references(text: str, layout: str, tag: str | None, digest: Digest | None) -> None:
    ref = ImageRef.parse(text)
    assert ref.is_layout and ref.layout == layout and ref.tag == tag and ref.digest == digest
    assert str(ref) == text


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("", "reference"),
        (" alpine", "reference"),
        ("Alpine", "repository component"),
        ("reg.example.com/App", "repository component"),
        ("alpine:", "tag"),
        ("alpine:-x", "tag"),
        ("alpine:" + "t" * 129, "tag"),
        ("alpine@sha256:abc", "digest"),
        (f"alpine@sha256:{'A' * 64}", "digest"),
        (f"alpine@md5:{HEX}", "digest"),
        ("reg.example.com:99999/x", "registry port"),
        ("reg.example.com:port/x", "registry port"),
        ("reg..example.com/x", "registry host"),
        ("reg.example.com/", "repository"),
        ("a//b", "repository component"),
        ("oci:", "layout directory"),
        ("oci:dir:", "layout tag"),
        ("[::1/x", "IPv6 host"),
    ],
)
def test_invalid_references_name_the_part(text: str, part: str) -> None:
    with pytest.raises(InvalidReference) as info:
        ImageRef.parse(text)
    assert f"bad {part}" in info.value.message
    assert info.value.hint


def test_a_reference_keeps_what_was_written_outside_its_identity() -> None:
    short = ImageRef.parse("alpine:3.20")
    long = ImageRef.parse("docker.io/library/alpine:3.20")
    assert short.display == "alpine:3.20" and long.display == "docker.io/library/alpine:3.20"
    # Two spellings of one image are one key: the text is no part of equality or hash.
    assert short == long and len({short, long}) == 1
    assert repr(short) == repr(long)
    digest = Digest.parse("sha256:" + "a" * 64)
    # Pinning keeps the name the user gave; another tag is another image, printed as parsed.
    assert short.with_digest(digest).display == "alpine:3.20"
    assert short.with_tag("edge").display == "index.docker.io/library/alpine:edge"
    built = ImageRef("registry.example.com", "team/app", "v1")
    assert built.display == str(built) == "registry.example.com/team/app:v1"
    assert built.written_as("app@v1").display == "app@v1" and built.written_as("app@v1") == built
    assert ImageRef.parse("oci:./dir:v1").display == "oci:./dir:v1"
