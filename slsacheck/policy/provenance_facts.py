"""What a SLSA provenance statement says, read the same way for v1 and v0.2 (no I/O).

The typed rules judge facts, not documents: builder id, build type, source repositories,
refs and commits, pipeline tasks and the references they were resolved from, step images,
and when the build finished. Where each fact lives:

- builder: v1 `runDetails.builder.id`; v0.2 `builder.id`.
- build type: v1 `buildDefinition.buildType`; v0.2 `buildType`.
- sources: git URIs in v1 `resolvedDependencies` (except the `pipeline`, `pipelineTask`
  and `task` entries, which are definitions) or v0.2 `materials`; CHAINS-GIT_URL params,
  results and byproducts; v0.2 `invocation.configSource` for non-Tekton builders.
- refs: `@refs/...` on source URIs; `revision`-like params; the Pipelines-as-Code
  `source-branch` annotation; `github_ref` (GitHub generators).
- commits: digests of source entries; CHAINS-GIT_COMMIT; hex revisions.
- tasks: v1 `externalParameters.runSpec.pipelineSpec.tasks` (name, taskRef name);
  v0.2 `buildConfig.tasks` (name, ref name or `name` param).
- task refs: v1 definition entries and taskRef bundles/resolvers; v0.2 task `ref`
  (bundle, git resolver) and, for Tekton, `invocation.configSource`.
- step images: v1 `oci://` dependencies without a name; v0.2 `oci://` materials and
  `buildConfig.tasks[].steps[].environment.image`.
- finished: v1 `runDetails.metadata.finishedOn`; v0.2 `metadata.buildFinishedOn`.

Every fact records where it was found (`where`), so a failing check can say so.

Reading is per evaluation and its cost is felt on every admission: a statement is walked
once, and only for the kinds of facts the caller asks for (`reads`: a policy without task
rules never walks the pipeline spec). The fact records are NamedTuples, immutable and typed
as the frozen dataclasses elsewhere but several times cheaper to build, and a statement
yields dozens of them.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from slsacheck._json import parse
from slsacheck.models.predicates import SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1
from slsacheck.provenance.builders import GENERATOR_KEY, IN_STEP
from slsacheck.provenance.tasks import TASKS_KEY

SLSA_V1 = SLSA_PROVENANCE_V1
SLSA_V02 = SLSA_PROVENANCE_V02

_HEX = re.compile(r"[0-9a-f]+")
_REF_PARAMS = frozenset({"revision", "git-revision", "git-ref", "ref", "branch", "git-branch"})
_URL_PARAMS = frozenset({"CHAINS-GIT_URL", "git-url"})
_COMMIT_KEYS = frozenset({"CHAINS-GIT_COMMIT"})
_DEFINITION_NAMES = frozenset({"pipeline", "pipelineTask", "task"})
_BRANCH_ANNOTATIONS = ("pipelinesascode.tekton.dev/source-branch",)
# Where `tasks` came from: slsacheck's internalParameters entry, an inline pipelineSpec, a
# v0.2 buildConfig, a TaskRun's own task; or why there is no list.
TASK_LISTS = ("recorded", "pipelineSpec", "buildConfig", "taskRun", "pipelineRef", "in-step", "none")
_GIT_SCHEMES = ("git+", "git://", "ssh://", "https://github.com", "https://gitlab.com")
_SOURCE_NAMES = _URL_PARAMS | _COMMIT_KEYS
_EMPTY: Mapping[str, Any] = MappingProxyType({})
# Step images and task bundles repeat from build to build; bounded, since the strings come from evidence.
_CACHED = 1024

# The kinds of facts a caller can ask for (`provenance_facts(..., reads=...)`); the builder,
# build type and finish time are always read (a lookup each).
SOURCES = "sources"  # sources, refs and commits
TASKS = "tasks"  # tasks, their list's origin and task refs
STEP_IMAGES = "step_images"
ALL_FACTS = frozenset({SOURCES, TASKS, STEP_IMAGES})


class Fact(NamedTuple):
    value: str
    where: str


class TaskInfo(NamedTuple):
    name: str  # the pipeline task name
    task: str | None  # the referenced task's own name (ref name / bundle `name` param)
    where: str
    kind: str = ""  # bundle | resolver | cluster | inline; "" when the provenance does not say
    ref: TaskRef | None = None  # where its definition came from, when recorded
    ran: bool = True  # False: listed but skipped, or its TaskRun was not given
    skipped: bool = False  # the run skipped it (when expressions): its definition never ran


class TaskRef(NamedTuple):
    uri: str  # oci://registry/repo (no tag, no digest) or git+https://host/repo
    digest: str | None  # "<alg>:<hex>" when the reference is pinned
    where: str


class StepImage(NamedTuple):
    name: str  # registry/repository as recorded (no scheme, tag or digest)
    digest: str | None
    where: str


@dataclass(frozen=True)
class ProvenanceFacts:
    version: str  # "v1" or "v0.2"
    builder_id: str | None = None
    build_type: str | None = None
    sources: tuple[Fact, ...] = ()
    refs: tuple[Fact, ...] = ()
    commits: tuple[Fact, ...] = ()
    tasks: tuple[TaskInfo, ...] = ()
    task_list: str = ""  # where the task list comes from: one of TASK_LISTS
    task_refs: tuple[TaskRef, ...] = ()
    step_images: tuple[StepImage, ...] = ()
    finished_on: str | None = None
    notes: tuple[str, ...] = field(default=())


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _is_map(value: Any) -> bool:
    # Parsed JSON is dicts; the abstract check (slow) is for the other mappings callers pass.
    return type(value) is dict or isinstance(value, Mapping)


def _map(value: Any) -> Mapping[str, Any]:
    return value if _is_map(value) else _EMPTY


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def is_git_uri(uri: str) -> bool:
    return uri.startswith(_GIT_SCHEMES) or uri.endswith(".git")


def split_ref(uri: str) -> tuple[str, str | None]:
    """`git+https://h/o/r@refs/heads/main` -> (`git+https://h/o/r`, `refs/heads/main`).

    Only an `@` in the path counts (`ssh://git@host/...` carries a user, not a ref).
    """
    scheme, sep, rest = uri.partition("://")
    body = rest if sep else uri
    slash = body.find("/")
    at = body.rfind("@")
    if at > slash >= 0:
        return (f"{scheme}{sep}" if sep else "") + body[:at], body[at + 1 :] or None
    return uri, None


def _digest_text(digest: Any) -> str | None:
    if not _is_map(digest):
        return None
    for alg in ("sha256", "sha512", "sha1", "gitCommit"):
        value = digest.get(alg)
        if isinstance(value, str) and value:
            return f"{alg}:{value}"
    return None


def _commit_values(digest: Any) -> Iterator[str]:
    if not _is_map(digest):
        return
    for alg in ("sha1", "gitCommit", "sha256"):
        value = digest.get(alg)
        if isinstance(value, str) and value:
            yield value


def _params(value: Any) -> list[tuple[str, Any]]:
    """Tekton params as (name, value), from a list of {name, value} or a mapping."""
    if isinstance(value, list):
        out = []
        for p in value:
            if _is_map(p):
                name = p.get("name")
                if isinstance(name, str) and name:
                    out.append((name, p.get("value")))
        return out
    if _is_map(value):
        return [(str(k), v) for k, v in value.items()]
    return []


def _param_map(value: Any) -> dict[str, Any]:
    """`_params` as a mapping (a later param of the same name wins)."""
    out: dict[str, Any] = {}
    if isinstance(value, list):
        for p in value:
            if _is_map(p):
                name = p.get("name")
                if isinstance(name, str) and name:
                    out[name] = p.get("value")
    elif _is_map(value):
        out = {str(k): v for k, v in value.items()}
    return out


class _Collector:
    def __init__(self, version: str) -> None:
        self.version = version
        self.sources: list[Fact] = []
        self.refs: list[Fact] = []
        self.commits: list[Fact] = []
        self.tasks: list[TaskInfo] = []
        self.task_list = "none"
        self.task_refs: list[TaskRef] = []
        self.step_images: list[StepImage] = []

    def source(self, uri: str, where: str, digest: Any = None) -> None:
        base, ref = split_ref(uri)
        self.sources.append(Fact(base, where))
        if ref is not None:
            self.ref(ref, where)
        for c in _commit_values(digest):
            self.commits.append(Fact(c, f"{where} digest"))

    def ref(self, value: str, where: str) -> None:
        # A revision that is hex is a commit someone named as a revision, not a ref.
        if _HEX.fullmatch(value) and len(value) >= 7:
            self.commits.append(Fact(value, where))
        else:
            self.refs.append(Fact(value, where))

    def param(self, name: str, value: Any, where: str) -> None:
        text = _s(value)
        if text is None:
            return
        if name in _URL_PARAMS:
            self.source(text, f"{where} {name}")
        elif name in _COMMIT_KEYS:
            self.commits.append(Fact(text, f"{where} {name}"))
        elif name in _REF_PARAMS:
            self.ref(text, f"{where} {name}")

    def step_image(self, uri: str, digest: Any, where: str) -> None:
        name, inline = _image_name(uri)
        pinned = _digest_text(digest)
        if inline is not None:
            pinned = pinned or inline
        self.step_images.append(StepImage(name, pinned, where))

    def task_ref(self, uri: str, digest: str | None, where: str) -> None:
        base: str = uri
        # A bundle is written with or without oci://; any other scheme (a hub or http
        # resolver's refSource) is kept as written, not read as an image name.
        if uri.startswith("oci://") or ("://" not in uri and not is_git_uri(uri)):
            name, inline = _image_name(uri)
            if inline is not None:
                digest = digest or inline or None
            base = "oci://" + name
        self.task_refs.append(TaskRef(base, digest, where))

    def pipeline_task(self, info: TaskInfo, uri: str | None, digest: str | None) -> None:
        """A task of the run, its reference recorded (and judged) with the other task refs."""
        if uri:
            self.task_ref(uri, digest, info.where)
            info = info._replace(ref=self.task_refs[-1])
        self.tasks.append(info)

    def facts(self, *, builder_id: str | None, build_type: str | None, finished_on: str | None) -> ProvenanceFacts:
        return ProvenanceFacts(
            self.version,
            builder_id=builder_id,
            build_type=build_type,
            sources=tuple(self.sources),
            refs=tuple(self.refs),
            commits=tuple(self.commits),
            tasks=tuple(self.tasks),
            task_list=self.task_list,
            task_refs=tuple(self.task_refs),
            step_images=tuple(self.step_images),
            finished_on=finished_on,
        )


@functools.lru_cache(maxsize=_CACHED)
def _image_name(uri: str) -> tuple[str, str | None]:
    """`oci://registry/repo:tag@sha256:...` -> (`registry/repo`, `sha256:...`): the name
    without scheme, tag or digest, and the digest written inline (None without `@`)."""
    name = uri.removeprefix("oci://")
    inline = None
    if "@" in name:
        name, _, inline = name.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name, inline


def _tekton_ref(c: _Collector, ref: Mapping[str, Any], where: str) -> str | None:
    """Record a Tekton taskRef/ref (bundle or resolver); return the referenced task's name."""
    params = _param_map(ref.get("params"))
    task_name = _s(ref.get("name")) or _s(params.get("name"))
    bundle = _s(ref.get("bundle")) or _s(params.get("bundle"))
    resolver = _s(ref.get("resolver"))
    if bundle:
        c.task_ref(bundle, None, f"{where} bundle")
    elif resolver == "git" and _s(params.get("url")):
        revision = _s(params.get("revision"))
        pinned = f"sha1:{revision}" if revision and _HEX.fullmatch(revision) else None
        c.task_ref("git+" + str(params["url"]).removeprefix("git+"), pinned, f"{where} git resolver")
    elif resolver:
        c.task_ref(f"{resolver}://{task_name or '?'}", None, f"{where} {resolver} resolver")
    return task_name


def _ref_kind(ref: Mapping[str, Any]) -> str:
    """How a Tekton taskRef resolves: bundle, resolver (remote), cluster, or (none) inline."""
    if not ref:
        return "inline"
    resolver = _s(ref.get("resolver"))
    if _s(ref.get("bundle")) or resolver == "bundles":
        return "bundle"
    return "cluster" if resolver in (None, "cluster") else "resolver"


def _spec_task(c: _Collector, t: Mapping[str, Any], ref_key: str, where: str, source: Mapping[str, Any]) -> None:
    """A task as a pipeline spec (or a v0.2 buildConfig entry) writes it; `source` is the
    refSource Tekton resolved it from, when recorded (v0.2 `invocation.configSource`)."""
    ref = _map(t.get(ref_key))
    kind = _ref_kind(ref)
    before = len(c.task_refs)
    task_name = _tekton_ref(c, ref, f"{where}.{ref_key}") if ref else None
    name = str(t["name"])
    if kind in ("bundle", "resolver") and _s(source.get("uri")):
        del c.task_refs[before:]  # what Tekton resolved beats what the spec wrote
        c.pipeline_task(TaskInfo(name, task_name, where, kind), str(source["uri"]), _digest_text(source.get("digest")))
        return
    recorded = None
    if kind in ("bundle", "resolver") and len(c.task_refs) > before:
        recorded = c.task_refs[-1]
    elif kind == "cluster":
        del c.task_refs[before:]  # a Task of the cluster has no reference to trust: judged as a task
    c.tasks.append(TaskInfo(name, task_name, where, kind, recorded))


def _recorded_tasks(c: _Collector, entries: list[Any]) -> None:
    """slsacheck's internalParameters entry (see `slsacheck.provenance.tasks`)."""
    c.task_list = "recorded"
    for i, e in enumerate(entries):
        if not _is_map(e) or not _s(e.get("name")):
            continue
        ref = _map(e.get("ref"))
        info = TaskInfo(
            str(e["name"]),
            _s(e.get("task")),
            f"internalParameters[{TASKS_KEY}][{i}]",
            kind=_s(ref.get("kind")) or "",
            ran=e.get("status") == "succeeded",
            skipped=e.get("status") == "skipped",
        )
        c.pipeline_task(info, _s(ref.get("uri")), _digest_text(ref.get("digest")))


def _v1_tasks(c: _Collector, run_spec: Mapping[str, Any], internal: Mapping[str, Any], deps: list[Any]) -> None:
    recorded = internal.get(TASKS_KEY)
    spec = _map(run_spec.get("pipelineSpec"))
    if isinstance(recorded, list) and recorded:  # an empty list says nothing: read what else there is
        _recorded_tasks(c, recorded)
    elif spec:
        c.task_list = "pipelineSpec"
        for key in ("tasks", "finally"):
            for i, t in enumerate(_list(spec.get(key))):
                if _is_map(t) and _s(t.get("name")):
                    _spec_task(c, t, "taskRef", f"externalParameters.runSpec.pipelineSpec.{key}[{i}]", {})
    elif "pipelineRef" in run_spec:
        c.task_list = "pipelineRef"
    elif _map(internal.get(GENERATOR_KEY)).get("mode") == IN_STEP:
        c.task_list = "in-step"
    elif "taskRef" in run_spec or "taskSpec" in run_spec:
        c.task_list = "taskRun"
        ref = _map(run_spec.get("taskRef"))
        kind = _ref_kind(ref)
        source = next((_map(d) for d in deps if _map(d).get("name") == "task"), {})
        own = _s(ref.get("name")) or _s(_param_map(ref.get("params")).get("name"))
        info = TaskInfo(own or "(inline taskSpec)", own, "externalParameters.runSpec", kind=kind)
        if kind in ("bundle", "resolver") and _s(source.get("uri")):
            # The `task` dependency is judged with the other task refs already: point at it
            # (normalised the same way) without adding it twice.
            alone = _Collector(c.version)
            alone.task_ref(str(source["uri"]), _digest_text(source.get("digest")), "resolvedDependencies (task)")
            info = info._replace(ref=alone.task_refs[0])
        c.tasks.append(info)


def _v1(predicate: Mapping[str, Any], reads: frozenset[str]) -> ProvenanceFacts:
    c = _Collector("v1")
    bd = _map(predicate.get("buildDefinition"))
    rd = _map(predicate.get("runDetails"))
    run_spec = _map(_map(bd.get("externalParameters")).get("runSpec"))
    sources, tasks, steps = SOURCES in reads, TASKS in reads, STEP_IMAGES in reads
    deps = _list(bd.get("resolvedDependencies"))
    if sources:
        for name, value in _params(run_spec.get("params")):
            c.param(name, value, "externalParameters.runSpec.params")
    if tasks:
        _v1_tasks(c, run_spec, _map(bd.get("internalParameters")), deps)
    if tasks or sources or steps:
        _v1_dependencies(c, deps, sources=sources, tasks=tasks, steps=steps)
    if sources:
        _v1_byproducts(c, _list(rd.get("byproducts")))
    return c.facts(
        builder_id=_s(_map(rd.get("builder")).get("id")),
        build_type=_s(bd.get("buildType")),
        finished_on=_s(_map(rd.get("metadata")).get("finishedOn")),
    )


def _v1_dependencies(c: _Collector, deps: list[Any], *, sources: bool, tasks: bool, steps: bool) -> None:
    for i, dep in enumerate(deps):
        if not _is_map(dep):
            continue
        uri = dep.get("uri")
        if not isinstance(uri, str) or not uri:
            continue
        dep_name = _s(dep.get("name"))
        if dep_name in _DEFINITION_NAMES:
            if tasks:
                c.task_ref(uri, _digest_text(dep.get("digest")), f"resolvedDependencies[{i}] ({dep_name})")
        elif uri.startswith(_GIT_SCHEMES) or uri.endswith(".git"):  # is_git_uri, inline: once per dependency
            if sources:
                where = f"resolvedDependencies[{i}]" + (f" ({dep_name})" if dep_name else "")
                c.source(uri, where, dep.get("digest"))
        elif steps and dep_name is None and uri.startswith("oci://"):
            c.step_image(uri, dep.get("digest"), f"resolvedDependencies[{i}]")


def _v1_byproducts(c: _Collector, byproducts: list[Any]) -> None:
    for i, bp in enumerate(byproducts):
        key = (_s(_map(bp).get("name")) or "").rsplit("/", 1)[-1]
        if key in _SOURCE_NAMES and _s(_map(bp).get("content")):
            try:
                value = parse(base64.b64decode(bp["content"]))
            except (ValueError, TypeError):
                continue
            c.param(key, value, f"runDetails.byproducts[{i}]")


def _v02(predicate: Mapping[str, Any]) -> ProvenanceFacts:
    c = _Collector("v0.2")
    build_type = _s(predicate.get("buildType"))
    tekton = bool(build_type) and "tekton.dev" in str(build_type)
    inv = _map(predicate.get("invocation"))
    cs = _map(inv.get("configSource"))
    if _s(cs.get("uri")):
        if tekton:  # Chains records where the pipeline definition came from
            c.task_ref(str(cs["uri"]), _digest_text(cs.get("digest")), "invocation.configSource")
        else:  # GitHub-hosted generators record the source repository here
            c.source(str(cs["uri"]), "invocation.configSource", cs.get("digest"))
    for name, value in _params(inv.get("parameters")):
        c.param(name, value, "invocation.parameters")
    env = _map(inv.get("environment"))
    annotations = _map(env.get("annotations"))
    for key in _BRANCH_ANNOTATIONS:
        if _s(annotations.get(key)):
            c.ref(str(annotations[key]), f"invocation.environment.annotations[{key}]")
    if _s(env.get("github_ref")):
        c.ref(str(env["github_ref"]), "invocation.environment.github_ref")
    for i, m in enumerate(_list(predicate.get("materials"))):
        uri = _s(_map(m).get("uri"))
        if uri is None:
            continue
        if uri.startswith("oci://"):
            c.step_image(uri, m.get("digest"), f"materials[{i}]")
        elif is_git_uri(uri):
            c.source(uri, f"materials[{i}]", m.get("digest"))
    tasks = _list(_map(predicate.get("buildConfig")).get("tasks"))
    if tasks:
        c.task_list = "buildConfig"
    elif tekton and str(build_type).endswith("/TaskRun"):
        # A TaskRun's provenance is about one task: Chains records where it came from
        # (configSource) only when it was resolved remotely.
        c.task_list = "taskRun"
        remote = next((r for r in c.task_refs if r.where == "invocation.configSource"), None)
        own = _s(_map(env.get("labels")).get("tekton.dev/task"))
        c.tasks.append(TaskInfo(own or "(the TaskRun's task)", own, "invocation", kind="resolver" if remote else "",
                                ref=remote))
    for i, t in enumerate(tasks):
        if not _is_map(t) or not _s(t.get("name")):
            continue
        where = f"buildConfig.tasks[{i}]"
        _spec_task(c, t, "ref", where, _map(_map(t.get("invocation")).get("configSource")))
        for result in _list(t.get("results")):
            r = _map(result)
            if _s(r.get("name")) in _SOURCE_NAMES:
                c.param(str(r["name"]), r.get("value"), f"{where}.results")
        for j, step in enumerate(_list(t.get("steps"))):
            image = _s(_map(_map(step).get("environment")).get("image"))
            if image:
                c.step_image(image, None, f"{where}.steps[{j}]")
    return c.facts(
        builder_id=_s(_map(predicate.get("builder")).get("id")),
        build_type=build_type,
        finished_on=_s(_map(predicate.get("metadata")).get("buildFinishedOn")),
    )


def provenance_facts(statement: Mapping[str, Any], reads: frozenset[str] = ALL_FACTS) -> ProvenanceFacts:
    """The facts `statement` records. With `reads` (a subset of ALL_FACTS), a v1 statement's
    other kinds of facts are left empty, unread; v0.2 (rare, and its kinds intertwined) is
    read whole."""
    predicate = _map(statement.get("predicate"))
    ptype = statement.get("predicateType")
    if ptype == SLSA_V1 or (ptype != SLSA_V02 and "buildDefinition" in predicate):
        return _v1(predicate, reads)
    return _v02(predicate)
