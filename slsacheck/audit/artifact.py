"""Audit reports as OCI artifacts: a shard pushes its JSON report, the merge pulls it.

The artifact is what `oras push REF audit-shard-0-of-4.json:REPORT_TYPE --artifact-type
REPORT_TYPE` writes: an OCI image manifest with `artifactType` REPORT_TYPE, the empty
config (`{}` as `application/vnd.oci.empty.v1+json`) and one layer, the report's JSON,
whose `org.opencontainers.image.title` annotation is the file name an ORAS client pulls
it to. The destination is any reference a `Store` opens: a registry repository or an OCI
layout on a shared volume (`oci:DIR:TAG`).

Pushed layer first, config next, the manifest and its tag last: a tag never names a
manifest whose blobs are missing, and a run that stopped half way is repaired by running
again (blobs already there are not sent again; the tag moves to the new manifest).

Read back for a merge: the manifest (digest-checked when the reference names a digest),
its shape checked before any blob is read (an OCI image manifest, REPORT_TYPE, the empty
config, exactly one REPORT_TYPE layer no larger than the shard report cap), then the layer,
digest-checked and read under that cap.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from slsacheck.audit.report import Report, writer
from slsacheck.audit.shard import MAX_SHARD_REPORT
from slsacheck.errors import InputError
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor, Manifest
from slsacheck.models.digest import Digest
from slsacheck.models.reference import ImageRef
from slsacheck.oci.open import open_store
from slsacheck.oci.options import RegistryOptions

REPORT_TYPE = "application/vnd.slsacheck.audit.report.v1+json"
ANN_TITLE = "org.opencontainers.image.title"
ANN_SHARD = "dev.slsacheck.audit.shard"
_CHUNK = 1024 * 1024
_HINT = "give the reference slsacheck audit --output-oci pushed (or the report file)"


@dataclass(frozen=True)
class Pushed:
    reference: str  # REPO@DIGEST of the manifest: what a merge can be given
    manifest: Descriptor
    layer: Descriptor


def title(report: Report) -> str:
    """The file name of the report inside the artifact (what `oras pull` writes)."""
    shard = report.meta.get("shard")
    if isinstance(shard, dict):
        return f"audit-shard-{shard.get('index')}-of-{shard.get('count')}.json"
    return "audit.json"


def destination(text: str) -> ImageRef:
    """`--output-oci REPO:TAG` parsed; a tag is required (a digest is only known once written)."""
    ref = ImageRef.parse(text)
    if ref.tag is None or ref.digest is not None:
        raise InputError(f"--output-oci {text}: needs a tag and no digest", expected="REPOSITORY:TAG or oci:DIR:TAG",
                         hint="e.g. registry.example.com/audits/nightly:shard-0 (the digest is known after the push)")
    return ref


def _render(report: Report, out: IO[bytes]) -> Descriptor:
    """The JSON report written to `out`; its descriptor, hashed as it is read back."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="\n", write_through=False)
    writer("json")(report, text)
    text.flush()
    text.detach()
    out.seek(0)
    sha = hashlib.sha256()
    size = 0
    while chunk := out.read(_CHUNK):
        sha.update(chunk)
        size += len(chunk)
    out.seek(0)
    return Descriptor(REPORT_TYPE, Digest("sha256", sha.hexdigest()), size, {ANN_TITLE: title(report)})


def push_report(report: Report, text: str, options: RegistryOptions) -> Pushed:
    """Push `report` (JSON) as an artifact tagged `text` (REPO:TAG or oci:DIR:TAG)."""
    ref = destination(text)
    assert ref.tag is not None
    store = open_store(ref, options, create=True)
    config = Descriptor.of(mt.EMPTY_JSON, mt.OCI_EMPTY)
    with tempfile.TemporaryFile() as spooled:
        layer = _render(report, spooled)
        store.push_blob(layer, spooled)
    store.push_blob(config, mt.EMPTY_JSON)
    annotations = {mt.ANN_CREATED: str(report.meta.get("finishedAt"))}
    shard = report.meta.get("shard")
    if isinstance(shard, dict):
        annotations[ANN_SHARD] = f"{shard.get('index')}/{shard.get('count')}"
    manifest = _manifest(config, layer, annotations)
    pushed = store.push_manifest(manifest, mt.OCI_MANIFEST, tag=ref.tag)
    return Pushed(f"{ref.name}@{pushed.digest}", pushed, layer)


def _manifest(config: Descriptor, layer: Descriptor, annotations: dict[str, str]) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": REPORT_TYPE,
        "config": config.to_json(),
        "layers": [layer.to_json()],
        "annotations": annotations,
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def is_reference(text: str) -> bool:
    """Whether a merge argument names an artifact rather than a file: `oci:DIR:TAG|@DIGEST`,
    or a reference whose first part is a registry host (has a dot or a port, or is
    localhost; `./` and `../` are paths) and that names a tag or digest. Anything else is a
    file path, so that a mistyped file name never becomes a request to Docker Hub."""
    if text.startswith("oci:"):
        return True
    host, slash, rest = text.partition("/")
    if not slash or not rest or host.startswith(".") or not ("." in host or ":" in host or host == "localhost"):
        return False
    last = rest.rsplit("/", 1)[-1]
    return ":" in last or "@" in last


def pull_report(text: str, options: RegistryOptions) -> tuple[bytes, str]:
    """The report bytes of the artifact `text` names, and `text@DIGEST` (where it came from)."""
    ref = ImageRef.parse(text)
    store = open_store(ref, options)
    manifest = store.fetch_manifest(ref.identifier)
    where = f"{ref.name}@{manifest.digest}"
    layer = _report_layer(manifest, text)
    return store.fetch_blob(layer, max_size=MAX_SHARD_REPORT), where


def _report_layer(manifest: Manifest, text: str) -> Descriptor:
    """The one report layer, after the manifest is known to be an audit report artifact."""
    kind = manifest.descriptor.artifact_type
    if manifest.media_type != mt.OCI_MANIFEST or kind != REPORT_TYPE:
        raise InputError(f"audit merge: {text} is not an audit report artifact",
                         expected=f"an OCI image manifest with artifactType {REPORT_TYPE}",
                         found=f"{manifest.media_type}, artifactType {kind}", hint=_HINT)
    config = manifest.config
    if config is None or config.media_type != mt.OCI_EMPTY:
        raise InputError(f"audit merge: {text}: the artifact's config is not the empty descriptor",
                         expected=mt.OCI_EMPTY, found=config.media_type if config else "no config", hint=_HINT)
    layers: Sequence[Descriptor] = manifest.layers
    if len(layers) != 1 or layers[0].media_type != REPORT_TYPE:
        raise InputError(f"audit merge: {text}: expected one report layer",
                         expected=f"one layer of {REPORT_TYPE}",
                         found=", ".join(d.media_type for d in layers) or "no layer", hint=_HINT)
    if layers[0].size > MAX_SHARD_REPORT:
        raise InputError(f"audit merge: {text}: the report layer is larger than a shard report may be",
                         expected=f"at most {MAX_SHARD_REPORT} bytes", found=f"{layers[0].size} bytes")
    return layers[0]
