"""What a run consumed and produced, gathered once for every output format.

- `image_dependencies`: step then sidecar images from `imageID` as `oci://<repo>` with
  their digest; an image without a well-formed `@<digest>` is kept as an unpinned
  dependency (uri only) with a warning, where Chains would fail the whole document.
- `append_artifacts`: Chains' merge rule (same name and one shared digest -> one entry).
- `go_json`: bytes exactly as Go's `json.Marshal` prints a result value (sorted object
  keys, HTML-safe escapes), so byproduct contents match Chains' byte for byte.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slsacheck.models.digest import Digest, InvalidDigest
from slsacheck.provenance.findings import Warning
from slsacheck.provenance.hints import Artifact, clean_digest_set
from slsacheck.provenance.runs import ContainerState, RefSource, Run

OCI_SCHEME = "oci://"
_PULLABLE = "docker-pullable://"


@dataclass(frozen=True)
class Dependency:
    """An in-toto ResourceDescriptor as provenance records a dependency or byproduct."""

    uri: str = ""
    digest: Mapping[str, str] = field(default_factory=dict)
    name: str = ""
    content: bytes = b""
    media_type: str = ""
    # The digest as the run wrote it, before malformed entries were left out: two refs to
    # different (if malformed) revisions stay two dependencies.
    written_digest: Mapping[str, str] | None = field(default=None, compare=False)

    def key(self) -> tuple[str, tuple[tuple[str, str], ...], bytes]:
        """What Chains compares to drop duplicates: everything but the name."""
        digest = self.digest if self.written_digest is None else self.written_digest
        return (self.uri, tuple(sorted(digest.items())), self.content)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.name:
            out["name"] = self.name
        if self.uri:
            out["uri"] = self.uri
        if self.digest:
            out["digest"] = dict(sorted(self.digest.items()))
        if self.content:
            out["content"] = base64.b64encode(self.content).decode("ascii")
        if self.media_type:
            out["mediaType"] = self.media_type
        return out


_GO_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def go_json(value: object) -> bytes:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    for raw, escaped in _GO_ESCAPES:
        text = text.replace(raw, escaped)
    return text.encode("utf-8", errors="replace")


def append_artifacts(existing: list[Artifact], items: Iterable[Artifact]) -> list[Artifact]:
    """Chains' `AppendSubjects`: same name and one shared digest -> one entry, digests merged."""
    out = list(existing)
    by_name: dict[str, list[int]] = {}
    for index, have in enumerate(out):
        by_name.setdefault(have.name, []).append(index)
    for item in items:
        for index in by_name.get(item.name, ()):
            have = out[index]
            if any(item.digest.get(k) == v for k, v in have.digest.items()):
                out[index] = Artifact(have.name, {**have.digest, **item.digest}, have.origin)
                break
        else:
            by_name.setdefault(item.name, []).append(len(out))
            out.append(Artifact(item.name, dict(item.digest), item.origin))
    return out


def append_dependencies(existing: list[Dependency], items: Iterable[Dependency]) -> list[Dependency]:
    """Chains' `AppendMaterials`: same uri and one shared digest (or both none) -> merged."""
    out = list(existing)
    by_uri: dict[str, list[int]] = {}
    for index, have in enumerate(out):
        by_uri.setdefault(have.uri, []).append(index)
    for item in items:
        for index in by_uri.get(item.uri, ()):
            have = out[index]
            shared = any(item.digest.get(k) == v for k, v in have.digest.items())
            if shared or (not have.digest and not item.digest):
                out[index] = Dependency(have.uri, {**have.digest, **item.digest}, have.name)
                break
        else:
            by_uri.setdefault(item.uri, []).append(len(out))
            out.append(item)
    return out


KEEP_NAMES = ("task", "pipeline")


def remove_duplicates(deps: Sequence[Dependency]) -> list[Dependency]:
    """Drop repeats of (uri, digest, content), keeping the run's own config entries."""
    seen: set[tuple[str, tuple[tuple[str, str], ...], bytes]] = set()
    out: list[Dependency] = []
    for dep in deps:
        key = dep.key()
        if key in seen and dep.name not in KEEP_NAMES and not dep.name.startswith("stepAction/"):
            continue
        seen.add(key)
        out.append(dep)
    return out


def ref_dependency(ref: RefSource, name: str, where: str, warnings: list[Warning]) -> Dependency:
    digest, bad = clean_digest_set(ref.digest)
    if bad:
        warnings.append(
            Warning(
                "ref.digest",
                where,
                f"refSource digest {', '.join(bad)} is not a full digest; {ref.uri} is recorded without it",
            )
        )
    return Dependency(ref.uri, digest, name, written_digest=ref.digest)


def artifact_dependency(artifact: Artifact, name: str) -> Dependency:
    return Dependency(artifact.name, artifact.digest, name)


def image_dependencies(run: Run, warnings: list[Warning]) -> list[Dependency]:
    steps = _images(run.steps, run, "step", warnings)
    sidecars = _images(run.sidecars, run, "sidecar", warnings)
    return append_dependencies(steps, sidecars)


def _images(states: Sequence[ContainerState], run: Run, kind: str, warnings: list[Warning]) -> list[Dependency]:
    out: list[Dependency] = []
    for state in states:
        where = f"{run.label}: {kind} {state.name}"
        image_id = state.image_id.strip()
        if image_id.startswith(_PULLABLE):
            image_id = image_id[len(_PULLABLE) :]
        if not image_id:
            warnings.append(Warning("step.no-image", where, "the status records no imageID; no dependency recorded"))
            continue
        repo, sep, digest_text = image_id.partition("@")
        digest: dict[str, str] = {}
        if sep:
            try:
                parsed = Digest.parse(digest_text)
                digest = {parsed.algorithm: parsed.hex}
            except InvalidDigest:
                digest = {}
        if not digest:
            warnings.append(
                Warning(
                    "step.unpinned",
                    where,
                    f"imageID {state.image_id[:200]!r} has no well-formed @sha256 digest; recorded as an "
                    f"unpinned dependency",
                )
            )
        out = append_dependencies(out, [Dependency(OCI_SCHEME + repo, digest)])
    return out
