"""What runs on Kubernetes, from `kubectl get ... -o json` output: the images to audit, with their workloads.

`read_inventory(stream, cluster, where)` reads one inventory (a `List`, a typed list such
as `PodList`, or a single workload object) and returns the containers it finds as
`Deployment`s; `group(...)` merges those of every inventory (one or several clusters) into
one `Target` per image, so that a digest is verified once however many workloads run it.

What is judged, per container (Pods: `containers`, `initContainers`, `ephemeralContainers`):

- the digest it actually runs, from the matching `status.*ContainerStatuses[].imageID`.
  Runtimes spell it `REPO@sha256:...` (containerd, CRI-O), `docker-pullable://REPO@sha256:...`
  (dockershim) or a bare `sha256:...` / `docker://sha256:...` without a repository: that
  digest is then looked up in the spec image's repository, with a note saying so (a bare
  image ID can be a config digest the registry does not serve as a manifest; the audit
  then reports that entry as an error rather than guessing);
- where there is no status (a Pending Pod, and every Deployment, StatefulSet, DaemonSet,
  ReplicaSet, Job, CronJob, ReplicationController), the spec's image, flagged `running:
  false` with the note "not running, tag only" (or "pinned by digest in the spec").

A running container whose spec names a tag keeps that tag: the audit resolves it and says
when it now points at another digest than the one running. Workloads are listed as
(cluster, namespace, kind, name, container); the same container listed twice (the same
file given twice) is listed once; the same names in two clusters are two workloads.
Objects of other kinds (Services, ConfigMaps, ...) are skipped. Anything else that is not
as Kubernetes writes it is an `InputError` naming the file and the object, before any
image is audited.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from slsacheck._json import Refused, parse
from slsacheck._reason import one_line
from slsacheck.audit.sources import Deployed, Target
from slsacheck.errors import InputError
from slsacheck.models.reference import ImageRef
from slsacheck.models.workloads import POD_SPEC_PATHS

MAX_INVENTORY = 512 * 1024 * 1024
_MAX_VALUES = 100_000_000
_BARE_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_RUNTIME_PREFIXES = ("docker-pullable://", "docker://", "containerd://", "cri-o://")
NOT_RUNNING_TAG = "not running, tag only"
NOT_RUNNING_PINNED = "not running, pinned by digest in the spec"

_CONTAINER_LISTS = (("containers", "containerStatuses"), ("initContainers", "initContainerStatuses"),
                    ("ephemeralContainers", "ephemeralContainerStatuses"))


@dataclass(frozen=True, order=True)
class Workload:
    cluster: str
    namespace: str
    kind: str
    name: str
    container: str

    def to_json(self) -> dict[str, str]:
        return {"cluster": self.cluster, "namespace": self.namespace, "kind": self.kind, "name": self.name,
                "container": self.container}


@dataclass(frozen=True)
class Container:
    """One container of one workload: the reference to audit and how it was found."""

    workload: Workload
    ref: ImageRef  # pinned to the running digest, or the spec's image
    running: bool
    tag: str | None  # the spec's tag reference, to compare with the running digest
    note: str | None


def _bad(where: str, what: str, **details: str) -> InputError:
    return InputError(f"{where}: {what}", **details)


def read_inventory(stream: IO[bytes] | IO[str], cluster: str, where: str) -> list[Container]:
    read = stream.read(MAX_INVENTORY + 1)
    data = read.encode("utf-8", "surrogateescape") if isinstance(read, str) else read
    if len(data) > MAX_INVENTORY:
        raise _bad(where, f"the inventory is larger than {MAX_INVENTORY} bytes",
                   hint="split it: one --kube-inventory per cluster or per namespace")
    try:
        doc = parse(data, max_bytes=MAX_INVENTORY, max_items=_MAX_VALUES)
    except Refused as exc:
        raise _bad(where, f"not JSON ({exc})", expected="kubectl get ... -o json output",
                   hint="write the inventory with kubectl get pods -A -o json") from None
    return list(_containers(doc, cluster, where))


def _objects(doc: Any, where: str) -> Iterator[tuple[int | None, str, dict[str, Any]]]:
    if not isinstance(doc, dict):
        raise _bad(where, "not a Kubernetes list", expected="a JSON object with kind List and items",
                   found=type(doc).__name__, hint="write it with kubectl get pods -A -o json")
    kind = doc.get("kind")
    if isinstance(kind, str) and kind in POD_SPEC_PATHS:
        yield None, kind, doc
        return
    items = doc.get("items")
    if not (isinstance(kind, str) and kind.endswith("List")) or not isinstance(items, list):
        raise _bad(where, "not a Kubernetes list", expected="kind: List (or PodList, DeploymentList, ...) with items",
                   found=f"kind {kind!r}" if isinstance(kind, str) else "no kind",
                   hint="write it with kubectl get pods -A -o json (or deployments,statefulsets,...)")
    default = kind[: -len("List")] or None  # typed lists (PodList) leave kind out of their items
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _bad(where, f"items[{index}] is not an object", found=type(item).__name__)
        item_kind = item.get("kind", default)
        if not isinstance(item_kind, str):
            raise _bad(where, f"items[{index}] has no kind", expected="kind: Pod, Deployment, ...")
        yield index, item_kind, item


def _containers(doc: Any, cluster: str, where: str) -> Iterator[Container]:
    for index, kind, obj in _objects(doc, where):
        if kind not in POD_SPEC_PATHS:
            continue  # Services, ConfigMaps, ...: no containers
        yield from _object_containers(obj, kind, cluster, f"{where}: {'' if index is None else f'items[{index}] '}")


def _object_containers(obj: dict[str, Any], kind: str, cluster: str, at: str) -> Iterator[Container]:
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        raise InputError(f"{at}{kind} without metadata.name", expected="metadata.name")
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    if namespace is None:
        namespace = "default"  # what kubectl assumes for an object written without one
    if not isinstance(namespace, str) or not namespace:
        raise InputError(f"{at}{kind} {name}: metadata.namespace is not a name", found=repr(namespace))
    at = f"{at}{kind} {namespace}/{name}"
    spec: Any = obj
    for key in POD_SPEC_PATHS[kind]:
        spec = spec.get(key) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        raise InputError(f"{at}: no Pod spec", expected=".".join(POD_SPEC_PATHS[kind]),
                         hint="give kubectl's -o json output unchanged")
    status = obj.get("status") if kind == "Pod" else None
    status = status if isinstance(status, dict) else {}
    for spec_key, status_key in _CONTAINER_LISTS:
        listed = spec.get(spec_key) or []
        if not isinstance(listed, list):
            raise InputError(f"{at}: {spec_key} is not a list", found=type(listed).__name__)
        ids = _image_ids(status.get(status_key), f"{at}: status.{status_key}")
        for position, container in enumerate(listed):
            yield _container(container, ids, Workload(cluster, namespace, kind, name, ""),
                             f"{at}: {spec_key}[{position}]")


def _image_ids(statuses: Any, at: str) -> dict[str, str]:
    if statuses is None:
        return {}
    if not isinstance(statuses, list):
        raise InputError(f"{at} is not a list", found=type(statuses).__name__)
    ids: dict[str, str] = {}
    for entry in statuses:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("imageID"), str):
            ids[entry["name"]] = entry["imageID"]
    return ids


def _container(container: Any, ids: dict[str, str], workload: Workload, at: str) -> Container:
    if not isinstance(container, dict) or not isinstance(container.get("name"), str):
        raise InputError(f"{at}: a container without a name", expected="name and image")
    name, image = container["name"], container.get("image")
    at = f"{at} ({name})"
    if not isinstance(image, str) or not image:
        raise InputError(f"{at}: no image", expected="an image reference")
    try:
        spec_ref = ImageRef.parse(image)
    except InputError as exc:
        raise InputError(f"{at}: image {image!r} is not a reference: {one_line(exc)}") from None
    if spec_ref.is_layout:
        raise InputError(f"{at}: image {image!r} is not a registry reference")
    workload = Workload(workload.cluster, workload.namespace, workload.kind, workload.name, name)
    tag = str(spec_ref) if spec_ref.digest is None else None
    image_id = ids.get(name, "")
    if not image_id:
        return Container(workload, spec_ref, False, None,
                         NOT_RUNNING_TAG if spec_ref.digest is None else NOT_RUNNING_PINNED)
    running, how = _running_ref(image_id, spec_ref, at)
    return Container(workload, running, True, tag, how)


def _running_ref(image_id: str, spec_ref: ImageRef, at: str) -> tuple[ImageRef, str | None]:
    rest = image_id
    for prefix in _RUNTIME_PREFIXES:
        if rest.startswith(prefix):
            rest = rest[len(prefix):]
            break
    if _BARE_DIGEST.fullmatch(rest):
        ref = ImageRef.parse(f"{spec_ref.name}@{rest}")
        return ref, f"the runtime reported {image_id} without a repository: looked up in {spec_ref.name}"
    try:
        ref = ImageRef.parse(rest)
    except InputError as exc:
        raise InputError(f"{at}: imageID {image_id!r} is not a reference: {one_line(exc)}",
                         expected="REPO@sha256:..., docker-pullable://REPO@sha256:... or sha256:...") from None
    if ref.digest is None or ref.is_layout:
        raise InputError(f"{at}: imageID {image_id!r} names no digest",
                         expected="REPO@sha256:..., docker-pullable://REPO@sha256:... or sha256:...")
    return ref, None


def group(containers: Iterable[Container]) -> list[Target]:
    """One target per running digest (or per spec reference), sorted by reference."""
    groups: dict[tuple[str, str], list[Container]] = {}
    for container in containers:
        ref = container.ref
        key = (ref.canonical_name, str(ref.digest) if ref.digest else f":{ref.tag or 'latest'}")
        groups.setdefault(key, []).append(container)
    targets = []
    for members in groups.values():
        text = min(str(c.ref) for c in members)
        seen = sorted({(c.workload, c.running, c.note or "") for c in members})
        deployed = Deployed(
            running=any(c.running for c in members),
            workloads=tuple({**w.to_json(), "running": running, **({"note": note} if note else {})}
                            for w, running, note in seen),
            tags=tuple(sorted({c.tag for c in members if c.tag and c.running})))
        targets.append(Target(text, ImageRef.parse(text), deployed=deployed))
    return sorted(targets, key=lambda t: t.text)
