"""Typed SLSA provenance rules over `ProvenanceFacts` -> Checks (pure).

Each rule fails closed: a fact the rule needs and the provenance does not carry (no
builder id, no source, no task list, no finish time) fails the rule and says where
slsacheck looked. A rule over a list (sources, refs, commits, task refs, step images)
needs every entry to satisfy it, and at least one entry to exist.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from slsacheck.errors import InvalidReference
from slsacheck.models.reference import ImageRef
from slsacheck.models.verdict import Check, Outcome
from slsacheck.policy import checkids as ids
from slsacheck.policy.globs import Glob
from slsacheck.policy.model import ProvenanceRules, SourceRules
from slsacheck.policy.provenance_facts import (
    SOURCES,
    STEP_IMAGES,
    TASKS,
    ProvenanceFacts,
    TaskInfo,
    split_ref,
)
from slsacheck.policy.timeutil import human_duration, parse_time
from slsacheck.policy.urls import UnsafeURL, normalise_url, without_scheme

_MAX_LISTED = 8
_HEX = re.compile("[0-9a-f]*")
# Spellings repeat across tasks, steps and images; bounded, since the strings come from evidence.
_CACHED = 1024
_CLOCK_SKEW = timedelta(minutes=5)


def _patterns(globs: Sequence[Glob]) -> str:
    return ", ".join(g.pattern for g in globs)


def _listing(items: Sequence[str]) -> str:
    shown = list(dict.fromkeys(items))
    extra = len(shown) - _MAX_LISTED
    text = "; ".join(shown[:_MAX_LISTED])
    return text + (f"; and {extra} more" if extra > 0 else "")


def _check(cid: str, ok: bool, expected: str, found: str, hint: str) -> Check:
    return Check(cid, Outcome.PASS if ok else Outcome.FAIL, expected=expected, found=found, hint=None if ok else hint)


@functools.lru_cache(maxsize=_CACHED)
def normalise_repo(uri: str) -> str:
    """`git+https://Host/o/r.git@refs/x` -> `https://host/o/r`; UnsafeURL if it has no safe form."""
    base, _ref = split_ref(uri.removeprefix("git+"))
    return normalise_url(base, repository=True)


@functools.lru_cache(maxsize=_CACHED)
def url_refusal(uri: str, *, repository: bool = True) -> str | None:
    """Why `uri` cannot be matched against a pattern (None: it can)."""
    try:
        normalise_repo(uri) if repository else normalise_url(uri)
    except UnsafeURL as exc:
        return f"refused: {exc}"
    return None


def repo_matches(glob: Glob, uri: str) -> bool:
    try:
        value = normalise_repo(uri)
    except UnsafeURL:
        return False
    if "://" in glob.pattern:
        return glob.match(value)
    return glob.match(without_scheme(value))


@functools.lru_cache(maxsize=_CACHED)
def _builder_text(builder: str) -> str | None:
    """A builder id as patterns see it: a URL normalised (None if it cannot be), else as written."""
    if "://" not in builder:
        return builder
    try:
        return normalise_url(builder)
    except UnsafeURL:
        return None


def builder_matches(glob: Glob, builder: str) -> bool:
    """A pattern without `@` accepts any version of the builder (`...yml@refs/tags/v2.1.0`)."""
    text = _builder_text(builder)
    if text is None:
        return False
    if glob.match(text):
        return True
    base, _, version = text.partition("@")
    if "@" not in glob.pattern:
        return bool(version) and glob.match(base)
    return bool(version.startswith("refs/tags/")) and glob.match(f"{base}@{version.removeprefix('refs/tags/')}")


def _all_match(
    cid: str,
    *,
    what: str,
    facts: Sequence[tuple[str, str]],
    ok: Callable[[str], bool],
    expected: str,
    hint: str,
    none_hint: str,
    refusal: Callable[[str], str | None] = lambda _v: None,
) -> Check:
    if not facts:
        return _check(cid, False, expected, f"no {what} recorded in the provenance", none_hint)
    bad = [f"{v} ({'; '.join(filter(None, (where, refusal(v))))})" for v, where in facts if not ok(v)]
    if bad:
        return _check(cid, False, expected, "not allowed: " + _listing(bad), hint)
    return _check(cid, True, expected, _listing([v for v, _ in facts]), hint)


def _registry_ok(image: str, allowed: Sequence[str]) -> bool:
    """`allowed` are canonical prefixes (build.py); the image is compared by its canonical name,
    so `LOCALHOST:443/x` or `127.1/x` cannot pass as, or dodge, another spelling."""
    name = _canonical_name(image)
    if name is None:
        return False
    return any(name == prefix or name.startswith(prefix + "/") for prefix in allowed)


@functools.lru_cache(maxsize=_CACHED)
def _canonical_name(image: str) -> str | None:
    try:
        return ImageRef.parse(image).canonical_name
    except InvalidReference:
        return None


_DIGEST_LENGTHS = {"sha256": 64, "sha512": 128, "sha1": 40, "gitCommit": 40}


def _pinned(digest: str | None, *, commit: bool = False) -> bool:
    if digest is None:
        return False
    alg, _, hexpart = digest.partition(":")
    good = len(hexpart) == _DIGEST_LENGTHS.get(alg, -1) or (commit and alg == "gitCommit" and len(hexpart) == 64)
    return good and _HEX.fullmatch(hexpart) is not None


def _trusted_ref(value: str, globs: Sequence[Glob]) -> bool:
    uri, _, digest = value.rpartition("@")
    return _pinned(digest, commit=True) and any(repo_matches(g, uri) for g in globs)


# A pattern as a cache key: its text and its compiled form (Globs compare by text alone).
_GlobKey = tuple[tuple[str, "re.Pattern[str]"], ...]


@functools.lru_cache(maxsize=_CACHED)
def _trusted_spelling(value: str, globs: _GlobKey) -> bool:
    """`_trusted_ref` by spelling: the same task bundles recur build after build."""
    return _trusted_ref(value, [Glob(pattern, regex) for pattern, regex in globs])


def _ref_refusal(value: str) -> str | None:
    return url_refusal(value.rpartition("@")[0])


def is_full_commit(value: str) -> bool:
    return len(value) in (40, 64) and _HEX.fullmatch(value) is not None


def provenance_checks(rules: ProvenanceRules, facts: ProvenanceFacts, *, now: datetime) -> list[Check]:
    """The checks of one provenance entry over one statement's facts: the rows of
    `checkids.PROVENANCE_RULES` that apply to `rules`, in the table's order."""
    return [_CHECKS[row.id](rules, facts, now) for row in ids.PROVENANCE_RULES if row.applies(rules)]


def facts_read(rules: ProvenanceRules) -> frozenset[str]:
    """The kinds of facts `provenance_checks(rules, ...)` reads (for `provenance_facts`)."""
    return frozenset(_READS[row.id] for row in ids.PROVENANCE_RULES if row.id in _READS and row.applies(rules))


def _builder(rules: ProvenanceRules, facts: ProvenanceFacts, _now: datetime) -> Check:
    b = facts.builder_id
    refused = url_refusal(b, repository=False) if b is not None and "://" in b else None
    return _check(
        ids.PROVENANCE_BUILDER,
        b is not None and any(builder_matches(g, b) for g in rules.builder_ids),
        f"builder id matching {_patterns(rules.builder_ids)}",
        f"{b} ({refused})" if refused else b or "no builder id",
        "this image was built by a builder the policy does not trust; rebuild it on an allowed "
        "builder, or add the builder's id to provenance.builderIds if it is trusted",
    )


def _build_type(rules: ProvenanceRules, facts: ProvenanceFacts, _now: datetime) -> Check:
    t = facts.build_type
    return _check(
        ids.PROVENANCE_BUILD_TYPE,
        t is not None and any(g.match(t) for g in rules.build_types),
        f"build type matching {_patterns(rules.build_types)}",
        t or "no build type",
        "the provenance describes another kind of build; check which Chains format "
        "(artifacts.pipelinerun.format) produced it",
    )


def _source(rules: ProvenanceRules) -> SourceRules:
    assert rules.source is not None  # the table's `applies` ran first
    return rules.source


def _repositories(rules: ProvenanceRules, facts: ProvenanceFacts, _now: datetime) -> Check:
    repos = _source(rules).repositories
    return _all_match(
        ids.PROVENANCE_REPOS,
        what="source repository",
        facts=[(f.value, f.where) for f in facts.sources],
        ok=lambda v: any(repo_matches(g, v) for g in repos),
        refusal=url_refusal,
        expected=f"every source repository matching {_patterns(repos)}",
        hint="the image was built from a repository the policy does not allow; build from an allowed one",
        none_hint="record the source: pass CHAINS-GIT_URL/CHAINS-GIT_COMMIT (type hints) from the clone task",
    )


def _refs(rules: ProvenanceRules, facts: ProvenanceFacts, _now: datetime) -> Check:
    refs = _source(rules).refs
    return _all_match(
        ids.PROVENANCE_REFS,
        what="source ref",
        facts=[(f.value, f.where) for f in facts.refs],
        ok=lambda v: any(g.match(v) for g in refs),
        expected=f"every ref matching {_patterns(refs)}",
        hint="the image was built from a branch or tag the policy does not allow; build from an allowed ref",
        none_hint="record the ref the run built (a `revision` param with refs/heads/... or refs/tags/...)",
    )


def _commit(_rules: ProvenanceRules, facts: ProvenanceFacts, _now: datetime) -> Check:
    return _all_match(
        ids.PROVENANCE_COMMIT,
        what="source commit",
        facts=[(f.value, f.where) for f in facts.commits],
        ok=is_full_commit,
        expected="a full 40- or 64-hex commit for every source",
        hint="pin the source by its full commit SHA (git-clone's `commit` result into CHAINS-GIT_COMMIT), "
        "never a branch name or a short SHA",
        none_hint="record the commit: CHAINS-GIT_COMMIT from the clone task's `commit` result",
    )


def _build_age(rules: ProvenanceRules, facts: ProvenanceFacts, now: datetime) -> Check:
    assert rules.max_age is not None  # the table's `applies` ran first
    return _max_age(ids.PROVENANCE_MAX_AGE, facts.finished_on, rules.max_age, now, "the build finished")


# What tasks.required and tasks.trustedRefs can decide, by where the task list comes from
# (ProvenanceFacts.task_list): found / hint when there is no usable list.
_NO_LIST = {
    "pipelineRef": (
        "the PipelineRun used a pipelineRef and the provenance (Tekton Chains' format) lists none of its tasks: "
        "Chains records a remotely resolved task only as an unnamed pipelineTask dependency, and a task of the "
        "cluster or an inline taskSpec not at all",
        "generate the provenance from the exported runs (slsacheck provenance generate --run PIPELINERUN --child "
        "TASKRUN..., which lists every task in internalParameters slsacheck.dev/pipelineTasks), or run the pipeline "
        "from an inline pipelineSpec",
    ),
    "in-step": (
        "in-step provenance knows only the Task that made it, not the pipeline's tasks",
        "require tasks on provenance generated from the exported runs (slsacheck provenance generate --run ... "
        "--child ...), or drop tasks from this attestation's rules",
    ),
    "none": (
        "no pipeline tasks recorded in the provenance",
        "the provenance carries no task list: generate it from the exported PipelineRun and TaskRuns (slsacheck "
        "provenance generate --run), or use an inline pipelineSpec",
    ),
}
_TASK_REFS_HINT = (
    "reference tasks from a trusted bundle or repository by digest (bundles resolver with ...@sha256:..., git "
    "resolver with a full commit as revision)"
)


def _task_label(t: TaskInfo) -> str:
    return t.name if not t.task or t.task == t.name else f"{t.name} ({t.task})"


def _tasks_required(required: Sequence[str], facts: ProvenanceFacts) -> Check:
    expected = "pipeline tasks " + ", ".join(required)
    if not facts.tasks:
        found, hint = _NO_LIST.get(facts.task_list, _NO_LIST["none"])
        return _check(ids.PROVENANCE_TASKS, False, expected, found, hint)
    ran = [t for t in facts.tasks if t.ran]
    names = {t.name for t in ran} | {t.task for t in ran if t.task}
    missing = [r for r in required if r not in names]
    not_ran = {n for t in facts.tasks if not t.ran for n in (t.name, t.task) if n}
    shown = [f"{r} (listed, but its TaskRun was not given or it did not run)" if r in not_ran else r for r in missing]
    found = _listing([_task_label(t) for t in ran]) or "none"
    return _check(
        ids.PROVENANCE_TASKS,
        not missing,
        expected,
        (f"missing {', '.join(shown)}; ran: " if missing else "") + found,
        "add the missing tasks to the pipeline (or name them as the policy does); when generating from exported "
        "runs, pass every child TaskRun with --child",
    )


def _tasks_trusted(rules: ProvenanceRules, facts: ProvenanceFacts) -> Check:
    """Every task of the run accounted for, and every recorded task/pipeline reference trusted."""
    globs = rules.tasks_trusted_refs
    allowed = [k for k, ok in (("inline", rules.tasks_allow_inline), ("cluster", rules.tasks_allow_cluster)) if ok]
    expected = f"every task from {_patterns(globs)}, pinned by digest" + (
        f" (tasks {' and '.join(allowed)} allowed)" if allowed else ""
    )
    cid = ids.PROVENANCE_TASK_REFS
    if not facts.tasks and facts.task_list in _NO_LIST:
        found, hint = _NO_LIST[facts.task_list]
        refs = [f"{r.uri}@{r.digest or 'unpinned'}" for r in facts.task_refs]
        if refs:
            found += f"; recorded without task names: {_listing(refs)}"
        return _check(cid, False, expected, found + "; so not every task can be accounted for", hint)
    if not facts.tasks and not facts.task_refs:
        found, hint = _NO_LIST["none"]
        return _check(cid, False, expected, found, hint)
    bad = []
    key = tuple((g.pattern, g.regex) for g in globs)
    for r in facts.task_refs:
        value = f"{r.uri}@{r.digest or 'unpinned'}"
        if not _trusted_spelling(value, key):
            bad.append(f"{value} ({'; '.join(filter(None, (r.where, _ref_refusal(value))))})")
    for t in facts.tasks:
        why = None if t.skipped else _untrusted_task(t, rules)
        if why:
            bad.append(f"task {_task_label(t)}: {why} ({t.where})")
    if bad:
        return _check(cid, False, expected, "not allowed: " + _listing(bad), _TASK_REFS_HINT + (
            "; or allow tasks of the cluster/inline tasks explicitly (tasks.allowCluster, tasks.allowInline)"
            if any(t.kind in ("cluster", "inline") for t in facts.tasks) else ""))
    shown = [f"{_task_label(t)}: {t.kind}" for t in facts.tasks] + [f"{r.uri}@{r.digest}" for r in facts.task_refs]
    return _check(cid, True, expected, _listing(shown), "")


def _untrusted_task(t: TaskInfo, rules: ProvenanceRules) -> str | None:
    """Why one task's definition is not accounted for by a trusted reference, or None."""
    if t.kind == "inline":
        return None if rules.tasks_allow_inline else "defined inline (taskSpec): no reference to trust"
    if t.kind == "cluster":
        return None if rules.tasks_allow_cluster else "a Task of the cluster (taskRef by name): not pinned"
    if t.ref is None:
        if t.kind in ("bundle", "resolver"):
            return f"resolved by a {t.kind} whose reference the provenance does not record"
        return "the provenance does not say where its definition came from"
    # Its reference is one of facts.task_refs, judged there.
    return None


def _step_images(rules: ProvenanceRules, facts: ProvenanceFacts) -> Check:
    assert rules.step_images is not None
    step = rules.step_images
    parts = []
    if step.require_digest:
        parts.append("pinned by digest")
    if step.allowed_registries:
        parts.append("from " + ", ".join(step.allowed_registries))
    expected = "every step image " + " and ".join(parts or ["recorded"])
    if not facts.step_images:
        return _check(
            ids.PROVENANCE_STEP_IMAGES,
            False,
            expected,
            "no step images recorded in the provenance",
            "the provenance must record every step image with its digest (Chains does by default)",
        )
    bad = []
    for img in facts.step_images:
        why = _step_refusal(img.name, img.digest, step.require_digest, step.allowed_registries)
        if why:
            bad.append(f"{img.name}@{img.digest or '?'} ({why}; {img.where})")
    if bad:
        return _check(
            ids.PROVENANCE_STEP_IMAGES,
            False,
            expected,
            _listing(bad),
            "pin step images by digest (image: repo@sha256:...) and pull them from an allowed registry",
        )
    return _check(
        ids.PROVENANCE_STEP_IMAGES,
        True,
        expected,
        f"{len({i.name for i in facts.step_images})} step images, all allowed",
        "",
    )


@functools.lru_cache(maxsize=_CACHED)
def _step_refusal(name: str, digest: str | None, require_digest: bool, allowed: tuple[str, ...]) -> str:
    """Why a step image is not allowed ("" when it is); the same images recur build after build."""
    why = []
    if require_digest and not _pinned(digest):
        why.append("not pinned")
    if allowed and not _registry_ok(name, allowed):
        why.append("registry not allowed")
    return ", ".join(why)


def _max_age(cid: str, stamp: str | None, max_age: timedelta, now: datetime, what: str) -> Check:
    expected = f"{what} at most {human_duration(max_age)} ago"
    if stamp is None:
        return _check(
            cid,
            False,
            expected,
            "no finish time recorded",
            "the attestation must record when it was produced; regenerate it",
        )
    when = parse_time(stamp)
    if when is None:
        return _check(cid, False, expected, f"unreadable time {stamp!r}", "regenerate the attestation")
    age = now - when
    if age < -_CLOCK_SKEW:
        return _check(cid, False, expected, f"{stamp} is in the future", "check the builder's clock")
    return _check(
        cid,
        age <= max_age,
        expected,
        f"{stamp} ({human_duration(age)} ago)",
        "rebuild (or rescan) the image: the evidence is older than the policy accepts",
    )


max_age_check = _max_age

# The kind of facts each rule reads beyond the builder, build type and finish time.
_READS = {
    ids.PROVENANCE_REPOS: SOURCES,
    ids.PROVENANCE_REFS: SOURCES,
    ids.PROVENANCE_COMMIT: SOURCES,
    ids.PROVENANCE_TASKS: TASKS,
    ids.PROVENANCE_TASK_REFS: TASKS,
    ids.PROVENANCE_STEP_IMAGES: STEP_IMAGES,
}

# How each typed provenance rule is checked, by id; `checkids.PROVENANCE_RULES` says when.
_CHECKS: dict[str, Callable[[ProvenanceRules, ProvenanceFacts, datetime], Check]] = {
    ids.PROVENANCE_BUILDER: _builder,
    ids.PROVENANCE_BUILD_TYPE: _build_type,
    ids.PROVENANCE_REPOS: _repositories,
    ids.PROVENANCE_REFS: _refs,
    ids.PROVENANCE_COMMIT: _commit,
    ids.PROVENANCE_TASKS: lambda rules, facts, _now: _tasks_required(rules.tasks_required, facts),
    ids.PROVENANCE_TASK_REFS: lambda rules, facts, _now: _tasks_trusted(rules, facts),
    ids.PROVENANCE_STEP_IMAGES: lambda rules, facts, _now: _step_images(rules, facts),
    ids.PROVENANCE_MAX_AGE: _build_age,
}
