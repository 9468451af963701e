"""Tekton Chains type hints, read as Chains reads them, with every bad hint reported.

The hints (result names; `*` is any prefix, paired hints share it):
- `*IMAGE_URL` + `*IMAGE_DIGEST`: an image the run built;
- `IMAGES`: image references with digests, separated by commas or newlines;
- `*ARTIFACT_OUTPUTS`: an object `{uri, digest, isBuildArtifact}`; a build artifact (a subject)
  only when `isBuildArtifact` is the string `"true"`, otherwise a byproduct;
- `*ARTIFACT_URI` + `*ARTIFACT_DIGEST`: an artifact (a subject in SLSA v0.2 only, as in Chains);
- `*ARTIFACT_INPUTS`: an object `{uri, digest}` the run consumed (a resolved dependency);
- `CHAINS-GIT_URL` + `CHAINS-GIT_COMMIT`: the source, from the Task's param defaults, then the
  run's params, then its results (each later one wins), as `git+<url>.git`.

Where Chains logs and drops, slsacheck adds a `Warning`: a digest that is not `<known
algorithm>:<hex of the right length>`, a git commit that is not a full 40- or 64-hex SHA
(a branch or tag name is never a digest), an image with a tag and no digest, a hint without
its pair, a hint given twice, a value of the wrong type. Which results stay out of the
byproducts follows Chains exactly (`not_byproducts`), so the two documents agree there.

Subject names are normalised once: a URI that is an image reference becomes its repository
name (`abc` -> `index.docker.io/library/abc`); any other URI is kept as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from slsacheck.errors import InvalidReference
from slsacheck.models.digest import Digest, InvalidDigest
from slsacheck.models.reference import LAYOUT_PREFIX, ImageRef
from slsacheck.models.statement import DIGEST_HEX_LENGTHS
from slsacheck.provenance.findings import Warning
from slsacheck.provenance.runs import Result

IMAGE_URL, IMAGE_DIGEST, IMAGES = "IMAGE_URL", "IMAGE_DIGEST", "IMAGES"
ARTIFACT_URI, ARTIFACT_DIGEST = "ARTIFACT_URI", "ARTIFACT_DIGEST"
ARTIFACT_OUTPUTS, ARTIFACT_INPUTS = "ARTIFACT_OUTPUTS", "ARTIFACT_INPUTS"
GIT_URL, GIT_COMMIT = "CHAINS-GIT_URL", "CHAINS-GIT_COMMIT"
_HEX = re.compile(r"[0-9a-f]+")
_COMMIT = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class Artifact:
    """A named, digested thing a hint points at (a subject or an input)."""

    name: str
    digest: Mapping[str, str]
    origin: str = field(default="", compare=False)


@dataclass(frozen=True)
class Hints:
    build_artifacts: tuple[Artifact, ...] = ()
    images: tuple[Artifact, ...] = ()
    artifact_pairs: tuple[Artifact, ...] = ()
    other_outputs: tuple[Artifact, ...] = ()
    inputs: tuple[Artifact, ...] = ()
    not_byproducts: frozenset[str] = frozenset()
    warnings: tuple[Warning, ...] = ()


# -- digests and names ----------------------------------------------------------------


def parse_artifact_digest(text: str) -> dict[str, str] | None:
    """`<alg>:<hex>` for sha1/sha256/sha384/sha512 with the right length, else None."""
    algorithm, sep, encoded = text.strip().partition(":")
    algorithm, encoded = algorithm.strip().lower(), encoded.strip()
    length = DIGEST_HEX_LENGTHS.get(algorithm)
    if not sep or length is None or len(encoded) != length or not _HEX.fullmatch(encoded):
        return None
    return {algorithm: encoded}


def clean_digest_set(digest: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The entries of a digest set that are well formed, and descriptions of the others."""
    good: dict[str, str] = {}
    bad: list[str] = []
    for algorithm, value in sorted(digest.items()):
        length = DIGEST_HEX_LENGTHS.get(algorithm)
        if length is None or len(value) != length or not _HEX.fullmatch(value):
            bad.append(f"{algorithm}:{value}")
        else:
            good[algorithm] = value
    return good, bad


def git_commit_digest(commit: str) -> dict[str, str] | None:
    """A full commit SHA as a digest set (`sha1` for 40 hex, `sha256` for 64), else None."""
    commit = commit.strip()
    if not _COMMIT.fullmatch(commit):
        return None
    commit = commit.lower()
    return {"sha1" if len(commit) == 40 else "sha256": commit}


def spdx_git(url: str) -> str:
    """`git+<url>.git`, the SPDX download-location form Chains records."""
    if not url.startswith("git+"):
        url = "git+" + url
    if not url.endswith(".git"):
        url += ".git"
    return url


def subject_name(uri: str) -> str:
    """An image reference's repository name; any other URI as written."""
    ref = _image_ref(uri)
    return ref.name if ref is not None else uri


def _image_ref(uri: str) -> ImageRef | None:
    if not uri or uri.startswith(LAYOUT_PREFIX):
        return None
    try:
        return ImageRef.parse(uri)
    except InvalidReference:
        return None


# -- reading one list of results ------------------------------------------------------


def read_hints(results: Sequence[Result], where: str) -> Hints:
    """Every hint in one results list (a run's, or one step's); `where` prefixes messages."""
    warnings: list[Warning] = []
    seen: set[str] = set()
    for result in results:
        if result.name in seen:
            warnings.append(Warning("hint.duplicate", f"{where} {result.name}", "the result is given twice"))
        seen.add(result.name)
    images = _pairs(results, IMAGE_URL, IMAGE_DIGEST, where, warnings, image=True)
    images += _images_list(results, where, warnings)
    pairs = _pairs(results, ARTIFACT_URI, ARTIFACT_DIGEST, where, warnings, image=False)
    build: list[Artifact] = []
    other: list[Artifact] = []
    inputs: list[Artifact] = []
    excluded: set[str] = set()
    for result in results:
        name = result.name
        if name.endswith((IMAGE_URL, IMAGE_DIGEST)) or name == IMAGES:
            excluded.add(name)
        if name.endswith(ARTIFACT_OUTPUTS):
            artifact, is_build, valid = _structured(result, where, warnings, outputs=True)
            if not isinstance(result.value, Mapping) or (is_build and not valid):
                excluded.add(name)  # Chains keeps these out of the byproducts too
            if artifact is not None:
                if is_build:
                    excluded.add(name)
                    build.append(artifact)
                else:
                    other.append(artifact)
        elif name.endswith(ARTIFACT_INPUTS):
            artifact, _, _ = _structured(result, where, warnings, outputs=False)
            if artifact is not None:
                inputs.append(artifact)
    return Hints(
        build_artifacts=tuple(build),
        images=tuple(images),
        artifact_pairs=tuple(pairs),
        other_outputs=tuple(other),
        inputs=tuple(inputs),
        not_byproducts=frozenset(excluded),
        warnings=tuple(warnings),
    )


def _string(result: Result, where: str, warnings: list[Warning]) -> str | None:
    if not isinstance(result.value, str):
        warnings.append(
            Warning(
                "hint.type",
                f"{where} {result.name}",
                f"a type hint must be a string, not {type(result.value).__name__}",
            )
        )
        return None
    value = result.value.strip()
    if not value:
        warnings.append(Warning("hint.empty", f"{where} {result.name}", "the type hint is empty"))
        return None
    return value


def _pairs(
    results: Sequence[Result], url_suffix: str, digest_suffix: str, where: str, warnings: list[Warning], *, image: bool
) -> list[Artifact]:
    partial: dict[str, dict[str, tuple[str, str]]] = {}  # prefix -> {"url"|"digest": (result name, value)}
    for result in results:
        for part, suffix in (("url", url_suffix), ("digest", digest_suffix)):
            if result.name.endswith(suffix):
                value = _string(result, where, warnings)
                if value is not None:
                    partial.setdefault(result.name[: -len(suffix)], {})[part] = (result.name, value)
    out: list[Artifact] = []
    for prefix, parts in partial.items():
        if "url" not in parts or "digest" not in parts:
            have, lack = ("url", digest_suffix) if "url" in parts else ("digest", url_suffix)
            warnings.append(
                Warning(
                    "hint.unpaired",
                    f"{where} {parts[have][0]}",
                    f"no {prefix}{lack} result goes with it, so it names no artifact",
                )
            )
            continue
        (url_name, url), (digest_name, digest_text) = parts["url"], parts["digest"]
        origin = f"{where} {url_name}/{digest_name}"
        artifact = (
            _image(url, digest_text, origin, warnings) if image else _artifact(url, digest_text, origin, warnings)
        )
        if artifact is not None:
            out.append(artifact)
    return out


def _image(url: str, digest_text: str, origin: str, warnings: list[Warning]) -> Artifact | None:
    try:
        digest = Digest.parse(digest_text)
    except InvalidDigest as exc:
        warnings.append(Warning("hint.digest", origin, f"not an image digest: {digest_text[:100]!r} ({exc})"))
        return None
    ref = _image_ref(url)
    if ref is None:
        warnings.append(Warning("hint.reference", origin, f"not an image reference: {url[:200]!r}"))
        return None
    if ref.digest is not None and ref.digest != digest:
        warnings.append(
            Warning("hint.conflict", origin, f"the URL pins {ref.digest} but the digest result says {digest}")
        )
        return None
    return Artifact(ref.name, {digest.algorithm: digest.hex}, origin)


def _digest(digest_text: str, origin: str, warnings: list[Warning]) -> dict[str, str] | None:
    """The digest a hint gives, or None with a warning saying what a digest looks like."""
    digest = parse_artifact_digest(digest_text)
    if digest is None:
        warnings.append(
            Warning(
                "hint.digest",
                origin,
                f"not a digest: {digest_text[:100]!r} (expected sha1/sha256/sha384/sha512:<hex of the right length>)",
            )
        )
    return digest


def _artifact(uri: str, digest_text: str, origin: str, warnings: list[Warning]) -> Artifact | None:
    digest = _digest(digest_text, origin, warnings)
    if digest is None:
        return None
    return Artifact(uri, digest, origin)


def _images_list(results: Sequence[Result], where: str, warnings: list[Warning]) -> list[Artifact]:
    out: list[Artifact] = []
    seen: set[str] = set()
    for result in results:
        if result.name != IMAGES:
            continue
        value = _string(result, where, warnings)
        if value is None:
            continue
        origin = f"{where} {IMAGES}"
        for entry in (e.strip() for e in re.split(r"[,\n]", value)):
            if not entry:
                continue
            if entry in seen:
                warnings.append(Warning("hint.duplicate", origin, f"{entry[:200]} is listed twice"))
                continue
            seen.add(entry)
            ref = _image_ref(entry)
            if ref is None:
                warnings.append(Warning("hint.reference", origin, f"not an image reference: {entry[:200]!r}"))
            elif ref.digest is None:
                warnings.append(
                    Warning("hint.unpinned", origin, f"{entry[:200]} has a tag and no digest; it is not a subject")
                )
            else:
                out.append(Artifact(ref.name, {ref.digest.algorithm: ref.digest.hex}, origin))
    return out


def _structured(
    result: Result, where: str, warnings: list[Warning], *, outputs: bool
) -> tuple[Artifact | None, bool, bool]:
    """(artifact if well formed, marked as a build artifact, well formed)."""
    origin = f"{where} {result.name}"
    value = result.value
    if not isinstance(value, Mapping):
        warnings.append(Warning("hint.type", origin, f"must be an object {{uri, digest}}, not {type(value).__name__}"))
        return None, False, False
    marker = value.get("isBuildArtifact")
    is_build = outputs and marker == "true"
    if outputs and marker not in (None, "true", "false"):
        warnings.append(
            Warning("hint.shape", origin, f'isBuildArtifact must be "true" or "false", not {marker!r}; read as false')
        )
    uri, digest_text = value.get("uri", ""), value.get("digest", "")
    if not uri or not digest_text:
        lacking = " and ".join(k for k, v in (("uri", uri), ("digest", digest_text)) if not v)
        warnings.append(Warning("hint.shape", origin, f"no {lacking}; it names no artifact"))
        return None, is_build, False
    digest = _digest(digest_text, origin, warnings)
    if digest is None:
        return None, is_build, False
    name = uri
    if outputs:
        ref = _image_ref(uri)
        if ref is not None and ref.digest is not None and {ref.digest.algorithm: ref.digest.hex} != digest:
            warnings.append(
                Warning("hint.conflict", origin, f"the uri pins {ref.digest} but the digest is {digest_text}")
            )
            return None, is_build, False
        name = ref.name if ref is not None else uri
    return Artifact(name, digest, origin), is_build, True


# -- the git source -------------------------------------------------------------------


def git_source(
    declared: Sequence[Result], params: Sequence[Result], results: Sequence[Result], where: str
) -> tuple[Artifact | None, list[Warning]]:
    """`CHAINS-GIT_URL`/`CHAINS-GIT_COMMIT`: defaults, then params, then results win.

    A commit that is not a full SHA gives an artifact with no digest (recorded unpinned)
    and a warning; Chains records it as `{"sha1": <whatever it was>}`.
    """
    url = commit = ""
    url_from = commit_from = ""
    for layer, items in (("param default", declared), ("param", params), ("result", results)):
        for item in items:
            if item.name in (GIT_URL, GIT_COMMIT):
                text = item.value if isinstance(item.value, str) else ""
                if item.name == GIT_URL:
                    url, url_from = text.strip(), f"{layer} {GIT_URL}"
                else:
                    commit, commit_from = text.strip(), f"{layer} {GIT_COMMIT}"
    warnings: list[Warning] = []
    if not url or not commit:
        if url or commit:
            have = url_from if url else commit_from
            warnings.append(
                Warning("git.unpaired", f"{where} {have}", "CHAINS-GIT_URL and CHAINS-GIT_COMMIT come in pairs")
            )
        return None, warnings
    uri = spdx_git(url)
    digest = git_commit_digest(commit)
    if digest is None:
        warnings.append(
            Warning(
                "git.commit",
                f"{where} {commit_from}",
                f"{commit[:80]!r} is not a full commit SHA (40 or 64 hex); a branch or tag name is not a "
                f"digest, so {uri} is recorded unpinned",
            )
        )
        return Artifact(uri, {}, f"{where} {commit_from}"), warnings
    return Artifact(uri, digest, f"{where} {commit_from}"), warnings
