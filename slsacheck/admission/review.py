"""AdmissionReview in, AdmissionReview out: parsing, image extraction, responses, pin patches.

Pure functions over JSON values; no I/O, no policy. The webhook (`app.py`) decides; this
module only reads what Kubernetes sent and writes what Kubernetes expects back.

Invariants:
- a review is answered in the apiVersion it arrived in (`admission.k8s.io/v1`, or the
  older `v1beta1` envelope, whose request and response shapes are the same), with the
  request's `uid` unchanged;
- every image a workload makes the kubelet pull is found: those `IMAGE_FIELDS` lists
  (containers, initContainers, ephemeralContainers, image volumes), in a Pod and in the
  pod template of Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs
  (`spec.jobTemplate.spec.template`), ReplicationControllers and PodTemplates. That table
  is the only list of image locations: judging, the UPDATE comparison and pinning all
  read what `images_of` returns, so a field added there is checked and pinned everywhere.
  Each image carries the JSON Pointer of its field, so that a patch replaces exactly it;
- a review that is not an AdmissionReview (wrong JSON, no `request`, no `uid`, a
  workload whose containers or image volumes do not name their image as a string)
  raises `MalformedReview`, which the app answers with HTTP 400: a webhook that cannot
  read a workload must never guess that it has no images;
- unknown keys are ignored (captures carry extras such as `timestamp`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from slsacheck._display import terminal, terminal_block
from slsacheck._json import load_object
from slsacheck.errors import InputError
from slsacheck.models.workloads import POD_SPEC_PATHS

API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")


@dataclass(frozen=True)
class ImageField:
    """A list of a pod spec whose items name images to pull, and where in an item the image is.

    `source`: the key that makes an item an image source (a volume is an image volume when it
    has `image`); empty when every item is one (every container names its image).
    """

    list_name: str
    path: tuple[str, ...]
    source: str = ""


# Every place a pod spec names an image the kubelet pulls, in the order they are reported.
# The one list: a field Kubernetes adds later is added here and is judged and pinned.
IMAGE_FIELDS = (
    ImageField("initContainers", ("image",)),
    ImageField("containers", ("image",)),
    ImageField("ephemeralContainers", ("image",)),
    ImageField("volumes", ("image", "reference"), source="image"),  # ImageVolume (KEP-4639)
)

CHECKED_OPERATIONS = ("CREATE", "UPDATE")
# Subresources that can bring new images; every other subresource (status, scale,
# binding, exec, ...) changes no container image.
IMAGE_SUBRESOURCES = ("", "ephemeralcontainers")


class MalformedReview(InputError):
    """The request body is not an AdmissionReview slsacheck can read (HTTP 400)."""


class PodImage(NamedTuple):
    """One image field of a workload: the text as written, the JSON Pointer to it, and whose it is.

    Immutable; a tuple rather than a dataclass because every review makes one per container."""

    image: str
    pointer: str
    owner: str  # `containers[0] (app)`, `volumes[1] (models)`: for messages and logs


class Review(NamedTuple):
    """The fields of an AdmissionReview request slsacheck reads (immutable; a tuple because
    every review makes one)."""

    api_version: str
    uid: str
    operation: str
    kind: str
    group: str
    sub_resource: str
    namespace: str
    name: str
    dry_run: bool
    object: Any
    old_object: Any
    requester: str = ""  # request.userInfo.username: whose share of the verification threads is used


def _bad(message: str, *, expected: str, found: str) -> MalformedReview:
    return MalformedReview(
        message, expected=expected, found=found,
        hint="the API server sends an AdmissionReview (admission.k8s.io/v1) as JSON; check what is calling this URL",
    )


def _kind_name(value: Any) -> str:
    return type(value).__name__ if value is not None else "null"


def parse_review(body: bytes) -> Review:
    """The AdmissionReview in `body`, or MalformedReview saying what is wrong with it."""
    doc = load_object(
        body,
        not_json=lambda exc: _bad(f"AdmissionReview: not JSON ({exc})", expected="a JSON object",
                                  found=f"{len(body)} bytes"),
        not_object=lambda value: _bad("AdmissionReview: not a JSON object", expected="a JSON object",
                                      found=_kind_name(value)),
    )
    api_version = doc.get("apiVersion")
    if doc.get("kind") != "AdmissionReview" or api_version not in API_VERSIONS:
        raise _bad(
            "AdmissionReview: wrong apiVersion/kind",
            expected=f"kind AdmissionReview, apiVersion {' or '.join(API_VERSIONS)}",
            found=f"kind {doc.get('kind')!r}, apiVersion {api_version!r}",
        )
    request = doc.get("request")
    if not isinstance(request, dict):
        raise _bad("AdmissionReview: no request", expected="a `request` object", found=_kind_name(request))
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise _bad("AdmissionReview: request.uid missing", expected="a non-empty string", found=repr(uid))
    kind = request.get("kind")
    if not isinstance(kind, dict) or not isinstance(kind.get("kind"), str) or not kind["kind"]:
        # Without the kind we cannot know where the images are: refuse rather than allow.
        raise _bad("AdmissionReview: request.kind missing", expected="{group, version, kind}", found=repr(kind))
    operation = request.get("operation")
    if not isinstance(operation, str) or not operation:
        raise _bad("AdmissionReview: request.operation missing", expected="CREATE, UPDATE, DELETE or CONNECT",
                   found=repr(operation))
    # Some captured requests carry dryRun beside `request`; honour either, never ignore one.
    dry_run = request.get("dryRun") is True or doc.get("dryRun") is True
    return Review(
        api_version=str(api_version),
        uid=uid,
        operation=operation,
        kind=str(kind.get("kind") or ""),
        group=str(kind.get("group") or ""),
        sub_resource=str(request.get("subResource") or ""),
        namespace=str(request.get("namespace") or ""),
        name=_name(request),
        dry_run=dry_run,
        object=request.get("object"),
        old_object=request.get("oldObject"),
        requester=_username(request.get("userInfo")),
    )


def _name(request: Mapping[str, Any]) -> str:
    """The object's name for logs and messages. The API server leaves `request.name` empty on
    CREATE for many clients (kubectl apply of a Deployment among them) while the object
    names itself; only a name still to be generated is `generateName` plus "*"."""
    name = request.get("name")
    if isinstance(name, str) and name:
        return name
    obj = request.get("object")
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    if isinstance(meta, Mapping):
        if isinstance(meta.get("name"), str) and meta["name"]:
            return str(meta["name"])
        if isinstance(meta.get("generateName"), str) and meta["generateName"]:
            return f"{meta['generateName']}*"
    return ""


def _username(user: Any) -> str:
    # Only used to share threads fairly, never to decide: a review without one shares "".
    name = user.get("username") if isinstance(user, dict) else None
    return name if isinstance(name, str) else ""


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _pod_spec(obj: Mapping[str, Any], path: Sequence[str], kind: str) -> Mapping[str, Any]:
    # A workload without its pod spec is not something the API server sends; reading it
    # as "no images" would let whatever it really holds through.
    node: Any = obj
    for token in path:
        if not isinstance(node, dict):
            raise _bad(f"{kind}: {'.'.join(path)} is not an object", expected="an object", found=_kind_name(node))
        node = node.get(token)
    if not isinstance(node, dict):
        raise _bad(f"{kind}: {'.'.join(path)} is not an object", expected="an object", found=_kind_name(node))
    return node


def images_of(kind: str, obj: Any) -> list[PodImage]:
    """Every image `obj` (a workload of `kind`) makes the kubelet pull, in `IMAGE_FIELDS` order."""
    path = () if kind == "EphemeralContainers" else POD_SPEC_PATHS.get(kind)  # () : the older subresource form
    if path is None:
        return []
    if not isinstance(obj, dict):
        raise _bad(f"{kind}: request.object is not an object", expected="the workload", found=_kind_name(obj))
    spec = _pod_spec(obj, path, kind)
    out: list[PodImage] = []
    for field in IMAGE_FIELDS:
        items = spec.get(field.list_name)
        if items is None:
            continue
        if not isinstance(items, list):
            raise _bad(f"{kind}: {'.'.join((*path, field.list_name))} is not a list",
                       expected=f"a list of {field.list_name}", found=_kind_name(items))
        before, after = _pointer_parts(path, field)
        for index, item in enumerate(items):
            # Read every review: the usual item (an object whose image is a string) is taken
            # without a walk; anything else goes to `_image_in`, which says what is wrong.
            image = item.get(field.path[0]) if isinstance(item, dict) and len(field.path) == 1 else None
            if not isinstance(image, str):
                image = _image_in(kind, path, index, item, field)
                if image is None:
                    continue
            name = item.get("name")
            owner = f"{field.list_name}[{index}] ({name})" if isinstance(name, str) and name else \
                f"{field.list_name}[{index}]"
            out.append(PodImage(image, f"{before}{index}{after}", owner))
    return out


_POINTERS: dict[tuple[tuple[str, ...], ImageField], tuple[str, str]] = {}


def _pointer_parts(path: tuple[str, ...], field: ImageField) -> tuple[str, str]:
    """The JSON Pointer of `field`'s images under `path`, before and after the item's index
    (escaped once per pod-spec path and field, of which there are a handful)."""
    parts = _POINTERS.get((path, field))
    if parts is None:
        before = "/" + "".join(_escape(t) + "/" for t in (*path, field.list_name))
        after = "".join("/" + _escape(t) for t in field.path)
        parts = _POINTERS[(path, field)] = (before, after)
    return parts


def _image_in(kind: str, path: tuple[str, ...], index: int, item: Any, field: ImageField) -> str | None:
    """The image `item` names at `field.path`; None when it is not an image source at all."""
    if field.source and isinstance(item, dict) and field.source not in item:
        return None
    where = f"{'.'.join((*path, field.list_name))}[{index}]"
    node: Any = item
    for depth, token in enumerate(field.path):
        if not isinstance(node, dict):
            at = ".".join((where, *field.path[:depth])) if depth else where
            raise _bad(f"{kind}: {at} is not an object", expected="an object", found=_kind_name(node))
        node = node.get(token)
    if not isinstance(node, str):
        # An image source whose image cannot be read must not count as "no image".
        raise _bad(f"{kind}: {'.'.join((where, *field.path))} is not a string", expected="an image reference",
                   found=_kind_name(node))
    return node


def is_workload(kind: str) -> bool:
    return kind in POD_SPEC_PATHS or kind == "EphemeralContainers"


def response(
    review: Review,
    *,
    allowed: bool,
    message: str | None = None,
    code: int | None = None,
    warnings: Sequence[str] = (),
    patch: Sequence[Mapping[str, Any]] | None = None,
    audit: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The AdmissionReview answering `review` (same apiVersion, same uid).

    `message` and `warnings` quote evidence and kubectl prints them on the user's terminal:
    they are escaped as every terminal output is (`slsacheck._display`), which also
    keeps a lone surrogate from failing the answer's UTF-8 encoding.
    """
    body: dict[str, Any] = {"uid": review.uid, "allowed": allowed}
    if message is not None or code is not None:
        status: dict[str, Any] = {}
        if code is not None:
            status["code"] = code
            if code == 403:
                status["reason"] = "Forbidden"
        if message is not None:
            status["message"] = terminal_block(message)
        body["status"] = status
    if warnings:
        body["warnings"] = [terminal(w) for w in warnings]
    if patch:
        if not allowed:
            raise ValueError("a patch only goes with allowed: true")
        body["patchType"] = "JSONPatch"
        body["patch"] = base64.b64encode(json.dumps(list(patch), separators=(",", ":")).encode()).decode()
    if audit:
        body["auditAnnotations"] = dict(audit)
    return {"apiVersion": review.api_version, "kind": "AdmissionReview", "response": body}


def pinned(image: str, digest: str) -> str:
    """`image` pinned to `digest`, keeping its tag (`repo:tag@sha256:...`)."""
    return image if "@" in image else f"{image}@{digest}"


def pin_patch(images: Sequence[PodImage], digests: Mapping[str, str]) -> list[dict[str, Any]]:
    """JSONPatch `replace` ops pinning each image found in `digests` (text -> digest).

    An image already carrying a digest is left alone, so the mutation is idempotent
    (the API server may call a mutating webhook again on its own output).
    """
    ops: list[dict[str, Any]] = []
    for item in images:
        digest = digests.get(item.image)
        if digest is None or "@" in item.image:
            continue
        ops.append({"op": "replace", "path": item.pointer, "value": pinned(item.image, digest)})
    return ops
