"""`slsacheck inspect` and `slsacheck copy`: thin commands over `slsacheck.oci`.

`inspect_image` gathers what `inspect` shows as plain JSON-able data (the demo and
later commands reuse it); `attached_evidence` is the hook where later issues add the
verified view of signatures, attestations and referrers. Library modules are imported
inside the functions so that `slsacheck --help` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING, Any, TextIO

from slsacheck._json import Refused, dumps_report, parse
from slsacheck.cli._registry_flags import add_registry_flags, open_image
from slsacheck.errors import InputError, NotFound
from slsacheck.models import mediatypes as mt
from slsacheck.oci.store import saved_evidence

if TYPE_CHECKING:
    from slsacheck.models.descriptor import Descriptor
    from slsacheck.models.digest import Digest
    from slsacheck.oci.copy import CopyReport
    from slsacheck.oci.store import Store


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "inspect",
        help="show an image's digest, media type, platforms and attached evidence",
        description="Show an image's digest, media type and size, the platforms of an index, the config "
        "of an image, and the signatures, attestations and referrers attached to it.",
    )
    p.add_argument("image", help="REGISTRY/REPO[:TAG][@DIGEST], or oci:DIR[:TAG] / oci:DIR@DIGEST")
    p.add_argument("--output", choices=["text", "json"], default="text", help="text (default) or JSON")
    add_registry_flags(p)
    p.set_defaults(func=_inspect)

    p = sub.add_parser(
        "copy",
        help="copy an image or index with all its children and blobs",
        description="Copy an image or an index, with every child manifest and blob, between registries "
        "and OCI layout directories. Manifests stay byte-exact (same digest); content already at the "
        "destination is not sent again; the tag is set last.",
    )
    p.add_argument("src", help="source image reference (registry or oci:DIR[:TAG])")
    p.add_argument(
        "dst", help="destination; without a tag the source's tag is used; a missing oci:DIR is created"
    )
    p.add_argument("--dry-run", action="store_true", help="say what would be sent, send nothing")
    p.add_argument("--output", choices=["text", "json"], default="text", help="text (default) or JSON")
    add_registry_flags(p)
    p.set_defaults(func=_copy)


# -- inspect ------------------------------------------------------------------------------


def _descriptor_json(d: Descriptor) -> dict[str, Any]:
    out: dict[str, Any] = {"digest": str(d.digest), "mediaType": d.media_type, "size": d.size}
    if d.artifact_type:
        out["artifactType"] = d.artifact_type
    if d.annotations:
        out["annotations"] = dict(d.annotations)
    return out


def attached_evidence(store: Store, digest: Digest) -> dict[str, Any]:
    """HOOK (later issues: sign, attest, bundles): what is attached to `digest` in `store`.

    For now: the cosign tags `sha256-<hex>.sig` / `.att` when present (with entries that
    `cosign save` marked `sigs`/`atts` in a layout), and the referrers. Nothing here is
    verified; `slsacheck verify` is what judges evidence.
    """
    found: dict[str, Any] = {"signatures": [], "attestations": [], "referrers": []}
    for key, suffix, kind in (("signatures", "sig", mt.KIND_SIGS), ("attestations", "att", mt.KIND_ATTS)):
        tag = f"{digest.tag_form}.{suffix}"
        try:
            descriptor = store.resolve(tag)
        except NotFound:
            pass
        else:
            found[key].append({"tag": tag, **_descriptor_json(descriptor)})
        found[key].extend({"kind": kind, **_descriptor_json(entry)}
                          for entry in saved_evidence(store, digest, kind) or ())
    with contextlib.suppress(NotFound):
        found["referrers"] = [_descriptor_json(d) for d in store.referrers(digest)]
    return found


def inspect_image(store: Store, reference: str, name: str) -> dict[str, Any]:
    """Everything `inspect` shows about `reference` in `store`, as JSON-able data."""
    manifest = store.fetch_manifest(str(store.resolve(reference).digest))
    out: dict[str, Any] = {
        "reference": name,
        "location": store.location,
        "digest": str(manifest.digest),
        "mediaType": manifest.media_type,
        "size": manifest.descriptor.size,
    }
    if manifest.descriptor.artifact_type:
        out["artifactType"] = manifest.descriptor.artifact_type
    if manifest.is_index:
        out["platforms"] = [
            {"platform": str(c.platform) if c.platform else None, **_descriptor_json(c)} for c in manifest.children
        ]
    config = manifest.config
    if config is not None:
        out["config"] = _descriptor_json(config)
        if config.media_type in {mt.OCI_CONFIG, mt.DOCKER_CONFIG}:
            try:
                doc = parse(store.fetch_blob(config, max_size=mt.MAX_MANIFEST_SIZE))
            except Refused as exc:
                doc = None
                out["config"]["problem"] = f"the config is not readable JSON ({exc})"
            if isinstance(doc, dict):
                for key in ("os", "architecture", "variant", "created"):
                    if isinstance(doc.get(key), str):
                        out["config"][key] = doc[key]
        out["layers"] = [_descriptor_json(layer) for layer in manifest.layers]
    if manifest.subject is not None:
        out["subject"] = _descriptor_json(manifest.subject)
    if manifest.annotations:
        out["annotations"] = dict(manifest.annotations)
    out.update(attached_evidence(store, manifest.digest))
    return out


def render_inspect(info: dict[str, Any], out: TextIO) -> None:
    def row(label: str, value: object) -> None:
        print(f"  {label + ':':<14}{value}", file=out)

    print(info["reference"], file=out)
    row("digest", info["digest"])
    row("media type", info["mediaType"])
    row("size", f"{info['size']} bytes")
    if "artifactType" in info:
        row("artifact", info["artifactType"])
    if "platforms" in info:
        row("platforms", len(info["platforms"]))
        for child in info["platforms"]:
            print(f"    {child['platform'] or '(none)':<18} {child['digest']}  {child['size']} bytes", file=out)
    if "config" in info:
        cfg = info["config"]
        where = "/".join(cfg[k] for k in ("os", "architecture", "variant") if k in cfg)
        row("config", f"{cfg['digest']}{f'  ({where})' if where else ''}")
        layers = info.get("layers", [])
        row("layers", f"{len(layers)} ({sum(layer['size'] for layer in layers)} bytes)")
    if "subject" in info:
        row("subject", info["subject"]["digest"])
    for key in ("signatures", "attestations", "referrers"):
        items = info.get(key, [])
        row(key, len(items) or "none")
        for item in items:
            label = item.get("tag") or item.get("artifactType") or item.get("kind") or item["mediaType"]
            print(f"    {item['digest']}  {label}", file=out)


def _inspect(args: argparse.Namespace) -> int:
    ref, store = open_image(args.image, args)
    info = inspect_image(store, ref.identifier, str(ref))
    if args.output == "json":
        print(dumps_report(info, indent=2))
    else:
        render_inspect(info, sys.stdout)
    return 0


# -- copy ---------------------------------------------------------------------------------


def render_copy(report: CopyReport, out: TextIO) -> None:
    verb = "would copy" if report.dry_run else "copied"
    print(f"{verb} {report.source} -> {report.destination}", file=out)
    print(f"  digest:     {report.digest}  ({report.media_type})", file=out)
    print(f"  manifests:  {len(report.manifests_copied)} sent, {len(report.manifests_present)} already there",
          file=out)
    print(f"  blobs:      {len(report.blobs_copied)} sent, {len(report.blobs_mounted)} mounted, "
          f"{len(report.blobs_present)} already there", file=out)
    print(f"  bytes sent: {report.bytes_sent}", file=out)
    tags = [f"{t} (set)" for t in report.tags_set] + [f"{t} (already)" for t in report.tags_present]
    print(f"  tags:       {', '.join(tags) or 'none (by digest)'}", file=out)


def _copy(args: argparse.Namespace) -> int:
    from slsacheck.oci.copy import copy  # noqa: PLC0415 - keep --help fast

    src_ref, src = open_image(args.src, args)
    dst_ref, dst = open_image(args.dst, args, create=True)
    source = src.resolve(src_ref.identifier)
    if dst_ref.digest is not None and dst_ref.digest != source.digest:
        raise InputError(
            "the destination names another digest than the source's",
            expected=str(source.digest),
            found=str(dst_ref.digest),
            hint="a copy keeps the digest; drop @DIGEST from the destination or give a tag",
        )
    # As Docker reads names: a bare name is `:latest`; a digest-only reference has no tag.
    tag = dst_ref.tag
    if tag is None and dst_ref.digest is None:
        tag = src_ref.tag or (None if src_ref.digest else "latest")
    report = copy(src, dst, str(source.digest), tags=[tag] if tag else [], dry_run=args.dry_run)
    if args.output == "json":
        print(dumps_report(report.to_json(), indent=2))
    else:
        render_copy(report, sys.stdout)
    return 0
