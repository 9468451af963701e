"""Evaluation's shortcuts change no result: the CEL activation cut down to what the
conditions select, provenance facts read only for the rules a policy has, and the caches
of spellings. Each is compared with the same evaluation with the shortcut off, over every
shipped policy, the test policy with every rule, and statements of every shape the
readers know (Chains v1 and v0.2, GitHub generators, slsacheck's recorded task list,
pipelineRef, TaskRun, in-step, and broken ones)."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml

from slsacheck.models.evidence import SignerInfo
from slsacheck.models.verdict import Check
from slsacheck.policy import evaluate as evaluate_module
from slsacheck.policy import provenance_facts as facts_module
from slsacheck.policy import provenance_rules as rules_module
from slsacheck.policy.cel import Activation, compile_expression, run
from slsacheck.policy.cel_reads import VARIABLES, prune, reads
from slsacheck.policy.evaluate import evaluate
from slsacheck.policy.globs import compile_glob
from slsacheck.policy.load import load_policies
from slsacheck.policy.model import AttestationRule, Policy, ProvenanceRules
from slsacheck.policy.provenance_facts import ALL_FACTS, provenance_facts
from slsacheck.policy.provenance_rules import facts_read, provenance_checks
from slsacheck.provenance.builders import GENERATOR_KEY, IN_STEP
from slsacheck.provenance.tasks import TASKS_KEY
from tests.support.env import ROOT
from tests.support.policy_evidence import (
    CHAINS_PIPELINERUN,
    CONFORMA_ENVELOPE,
    NOW,
    SLSA_VERIFIER_ENVELOPE,
    attestation,
    dsse_statement,
    evidence,
    shared_json,
    signature,
    tekton_v1_statement,
    write_policy,
)
from tests.unit.test_policy_evaluate import POLICY as EVERY_RULE

SHIPPED = sorted(p.name for p in (ROOT / "policies").glob("*.yaml"))
_SIGNER = SignerInfo(kind="keyless", key_fingerprint="11" * 32, subject="s", issuer="i", tlog=True)
_PINNED = "sha256:" + "c" * 64


# --- statements ---------------------------------------------------------------------------


def _bd(s: dict[str, Any]) -> dict[str, Any]:
    bd: dict[str, Any] = s["predicate"]["buildDefinition"]
    return bd


def _recorded(s: dict[str, Any]) -> None:
    _bd(s)["internalParameters"] = {TASKS_KEY: [
        {"name": "git-clone", "task": "git-clone", "status": "succeeded",
         "ref": {"kind": "bundle", "uri": f"oci://registry.example.com/tekton/git-clone:1@{_PINNED}"}},
        {"name": "scan", "task": "trivy-scan", "status": "skipped", "ref": {"kind": "cluster"}},
        {"name": "build-push", "status": "failed", "ref": {"kind": "resolver", "uri": "git+https://github.com/acme/t",
                                                          "digest": {"sha1": "d" * 40}}},
        "not a task",
        {"name": ""},
    ]}


def _pipeline_ref(s: dict[str, Any]) -> None:
    spec = _bd(s)["externalParameters"]["runSpec"]
    del spec["pipelineSpec"]
    spec["pipelineRef"] = {"resolver": "git", "params": [{"name": "url", "value": "https://github.com/acme/p"}]}


def _in_step(s: dict[str, Any]) -> None:
    del _bd(s)["externalParameters"]["runSpec"]["pipelineSpec"]
    _bd(s)["internalParameters"] = {GENERATOR_KEY: {"mode": IN_STEP}}


def _task_run(s: dict[str, Any]) -> None:
    spec = _bd(s)["externalParameters"]["runSpec"]
    del spec["pipelineSpec"]
    spec["taskRef"] = {"resolver": "bundles", "params": [{"name": "name", "value": "build-push"},
                                                        {"name": "bundle", "value": "registry.example.com/t:1"}]}
    _bd(s)["resolvedDependencies"].append({"name": "task", "uri": "oci://registry.example.com/tekton/t:1",
                                           "digest": {"sha256": "e" * 64}})


def _mixed_tasks(s: dict[str, Any]) -> None:
    tasks = _bd(s)["externalParameters"]["runSpec"]["pipelineSpec"]["tasks"]
    tasks.append({"name": "inline", "taskSpec": {"steps": []}})
    tasks.append({"name": "cluster", "taskRef": {"name": "build-push"}})
    tasks.append({"name": "git", "taskRef": {"resolver": "git", "params": [
        {"name": "url", "value": "https://github.com/acme/tasks.git"}, {"name": "revision", "value": "f" * 40}]}})
    tasks.append({"name": "hub", "taskRef": {"resolver": "hub", "params": {"name": "lint"}}})
    _bd(s)["externalParameters"]["runSpec"]["pipelineSpec"]["finally"] = [
        {"name": "notify", "taskRef": {"bundle": "registry.example.com/tekton/notify:2"}}]


def _odd_dependencies(s: dict[str, Any]) -> None:
    _bd(s)["resolvedDependencies"] += [
        "not a mapping",
        {"name": "pipeline", "uri": "git+https://github.com/acme/p.git@refs/heads/main", "digest": {"sha1": "a" * 40}},
        {"uri": "oci://docker.io/library/busybox:1.36"},
        {"uri": "oci://LOCALHOST:443/x@sha256:" + "1" * 64},
        {"uri": "git+ssh://git@github.com/acme/app.git@refs/tags/v1.2", "digest": {"gitCommit": "b" * 40}},
        {"name": "x", "uri": ""},
        {"uri": "https://example.com/blob", "digest": {"sha256": "2" * 64}},
    ]
    s["predicate"]["runDetails"]["byproducts"].append({"name": "x/CHAINS-GIT_URL", "content": "not base64!"})


def _broken_types(s: dict[str, Any]) -> None:
    _bd(s)["externalParameters"]["runSpec"]["params"] = {"revision": "abc1234", "CHAINS-GIT_URL": 7}
    _bd(s)["resolvedDependencies"] = MappingProxyType({"uri": "oci://x"})
    s["predicate"]["runDetails"] = ["not", "a", "mapping"]


def _no_predicate(s: dict[str, Any]) -> None:
    del s["predicate"]


def _v1_statement(edit: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
    s = tekton_v1_statement()
    if edit is not None:
        edit(s)
    return s


def _statements() -> dict[str, dict[str, Any]]:
    edits: dict[str, Callable[[dict[str, Any]], None] | None] = {
        "chains-v1": None, "recorded": _recorded, "pipelineRef": _pipeline_ref, "in-step": _in_step,
        "taskRun": _task_run, "mixed-tasks": _mixed_tasks, "odd-deps": _odd_dependencies,
        "broken-types": _broken_types, "no-predicate": _no_predicate,
    }
    out = {name: _v1_statement(edit) for name, edit in edits.items()}
    out["chains-upstream"] = copy.deepcopy(shared_json(CHAINS_PIPELINERUN)["expected"])
    out["chains-taskrun"] = copy.deepcopy(shared_json("chains/TRANSCRIBED__slsa-v2alpha4__taskrun1.expected.json")
                                          ["expected"])
    out["github-v0.2"] = dsse_statement(SLSA_VERIFIER_ENVELOPE)
    out["conforma"] = dsse_statement(CONFORMA_ENVELOPE)
    return out


# --- the shortcuts off --------------------------------------------------------------------


def _uncached(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every statement read whole, every condition over the whole statement, no cache warm."""
    monkeypatch.setattr(evaluate_module, "facts_read", lambda _rules: ALL_FACTS)
    monkeypatch.setattr(AttestationRule, "cel_reads", property(lambda _self: {}))
    for cached in (facts_module._image_name, rules_module.url_refusal, rules_module._builder_text,
                   rules_module.normalise_repo, rules_module._canonical_name, rules_module._step_refusal,
                   rules_module._trusted_spelling):
        cached.cache_clear()


def _policies(tmp_path: Path) -> list[Policy]:
    write_policy(tmp_path, "", name="unused", keys=("cosign.pub", "keys/other.pub"), roots=("trusted_root.json",))
    files = [write_policy(tmp_path, EVERY_RULE, name="every-rule.yaml", keys=("keys/release.pub",))]
    for name in SHIPPED:
        shutil.copy(ROOT / "policies" / name, tmp_path / name)
        files.append(tmp_path / name)
    return [p for f in files for p in load_policies([f]).policies]


def _judge(policy: Policy, statement: dict[str, Any]) -> list[Check]:
    atts = []
    for rule in policy.attestations:
        s = dict(statement)
        s["predicateType"] = rule.predicate_type
        atts.append(attestation(rule.authorities[0], s, signer=_SIGNER))
    sigs = [signature(policy.signatures.authorities[0], _SIGNER)] if policy.signatures else []
    return evaluate(policy, evidence(signatures=sigs, attestations=atts), now=NOW)


def test_every_policy_judges_every_statement_as_with_the_shortcuts_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policies = _policies(tmp_path)
    assert {p.name for p in policies} >= {"matrix"} and len(policies) > len(SHIPPED)
    statements = _statements()
    fast = {(p.name, s): _judge(p, st) for p in policies for s, st in statements.items()}
    again = {(p.name, s): _judge(p, st) for p in policies for s, st in statements.items()}
    with monkeypatch.context() as m:
        _uncached(m)
        slow = {(p.name, s): _judge(p, st) for p in policies for s, st in statements.items()}
    assert fast == slow
    assert again == slow  # the caches, warm, give what they gave cold
    # The corpus reaches the outcomes and texts the shortcuts could get wrong.
    outcomes = {c.outcome.value for checks in slow.values() for c in checks}
    assert outcomes >= {"pass", "fail", "skip"}
    texts = " ".join(c.found or "" for checks in slow.values() for c in checks)
    assert "resolvedDependencies[" in texts and "no such member in mapping" in texts


def _single_rules(every: ProvenanceRules) -> list[ProvenanceRules]:
    """`every` cut to one rule at a time (and kept whole)."""
    empty = ProvenanceRules()
    return [every] + [
        dataclasses.replace(empty, **{f.name: getattr(every, f.name)})
        for f in dataclasses.fields(ProvenanceRules)
        if getattr(every, f.name) != getattr(empty, f.name)
    ]


def test_facts_read_for_a_rule_give_its_check_as_the_whole_reading(tmp_path: Path) -> None:
    file = write_policy(tmp_path, EVERY_RULE, keys=("keys/release.pub", "keys/other.pub"))
    (policy,) = load_policies([file]).policies
    every = policy.attestations[0].provenance
    assert every is not None
    rules = _single_rules(every)
    assert len(rules) >= 8
    for statement in _statements().values():
        whole = provenance_facts(statement)
        for r in rules:
            assert provenance_checks(r, provenance_facts(statement, facts_read(r)), now=NOW) == provenance_checks(
                r, whole, now=NOW
            ), (r, statement.get("predicateType"))


def test_facts_are_read_only_for_the_rules_there_are() -> None:
    statement = tekton_v1_statement()
    builder_only = ProvenanceRules(builder_ids=(compile_glob("https://tekton.dev/**"),))
    facts = provenance_facts(statement, facts_read(builder_only))
    assert facts_read(builder_only) == frozenset()
    assert facts.builder_id == "https://tekton.dev/chains/v2"
    assert facts.tasks == facts.task_refs == facts.step_images == facts.sources == ()
    full = provenance_facts(statement)
    assert full.tasks and full.task_refs and full.step_images and full.sources


# --- CEL: the cut-down activation ---------------------------------------------------------

# Each reads the statement in a way the analysis must not under-read: names inside strings
# and comments, root-qualified and shadowed names, presence tests, iteration over a map,
# missing members, selection through a list or a string, indexes, optional selection.
EXPRESSIONS = [
    'predicate.runDetails.builder.id.startsWith("https://tekton.dev/")',
    '"predicate.runDetails" != "" && predicate.runDetails.builder.id != ""',
    '\'predicate.x\' != "" && predicate.buildDefinition.buildType.endsWith("slsa")',
    '"a\\"predicate.q" != "" && predicate.runDetails.builder.id == "x"',
    'r"""p\npredicate.zz""" != "" && predicate.runDetails.builder.id != ""',
    "// it's a comment with predicate.nothing\npredicate.runDetails.builder.id != \"\"",
    ".predicate.runDetails.builder.id != ''",
    'subject.exists(predicate, has(predicate.name)) && predicate.runDetails.builder.id != ""',
    "has(predicate.runDetails.builder.version)",
    "has(predicate.runDetails.builder) && has(predicate.nothing)",
    'predicate.runDetails.nothing.id == "x"',
    'predicate.buildDefinition.resolvedDependencies.uri == "x"',
    "predicate.runDetails.builder.id.size() > 0 && predicate.runDetails.builder.id.nothing == 1",
    'predicate.runDetails.exists(k, k == "byproducts")',
    "size(predicate.runDetails) == 3",
    "size(predicate.runDetails.builder) == 1 && predicate.runDetails.builder.id != ''",
    '"runDetails" in predicate && "id" in predicate.runDetails.builder',
    "predicate.runDetails == statement.predicate.runDetails",
    "statement.predicate.runDetails.builder.id == predicate.runDetails.builder.id",
    'predicate["runDetails"].builder.id != "" && predicate.buildDefinition.buildType != ""',
    'predicate.runDetails.?builder.id.orValue("") != ""',
    'predicate.runDetails.?nothing.id.orValue("none") == "none"',
    "predicate\n  .runDetails .builder. id != ''",
    "dyn(predicate).runDetails.builder.id != '' && [predicate][0].buildDefinition.buildType != ''",
    "predicate.buildDefinition.externalParameters.runSpec.params.exists(p, p.name == 'revision')",
    "predicate.buildDefinition.resolvedDependencies.all(d, has(d.uri))",
    "subject.all(s, s.digest.sha256.size() == 64) && predicateType.endsWith('/v1')",
    "predicateType == statement.predicateType && statement.subject == subject",
    "size(statement) > 2 && statement._type.startsWith('https://in-toto.io/')",
    "predicate.runDetails.metadata.finishedOn.matches('^2026') || predicate.runDetails.builder.id == ''",
    "string(predicate.runDetails.builder) != ''",
]


def _cel_statements() -> list[dict[str, Any]]:
    base = tekton_v1_statement()
    odd = copy.deepcopy(base)
    odd["predicate"]["runDetails"] = "a string where a map should be"
    listy = copy.deepcopy(base)
    listy["predicate"]["runDetails"]["builder"] = ["https://tekton.dev/chains/v2"]
    no_builder = copy.deepcopy(base)
    del no_builder["predicate"]["runDetails"]["builder"]
    proxied = copy.deepcopy(base)
    proxied["predicate"]["runDetails"]["builder"] = MappingProxyType({"id": "x"})
    bare = {"_type": "https://in-toto.io/Statement/v1", "predicateType": "x", "subject": []}
    # Values the runtime refuses, where no expression looks: the whole variable fails to
    # convert, so a condition over it fails, cut down or not.
    refused = []
    for value in (2**64, -(2**63) - 1, "\ud800", (1, 2), {"k": MappingProxyType({})}, {1: "int key"}, b"x"):
        s = copy.deepcopy(base)
        s["predicate"]["buildDefinition"]["internalParameters"] = {"unread": value}
        s["statement_extra"] = [value]
        refused.append(s)
    edge = copy.deepcopy(base)
    edge["predicate"]["buildDefinition"]["internalParameters"] = {
        "n": [2**64 - 1, -(2**63), 1.5, float("inf"), None, True], "t": "\u00e9t\u00e9"}
    return [base, odd, listy, no_builder, proxied, bare, edge, *refused, dsse_statement(SLSA_VERIFIER_ENVELOPE)]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_a_condition_over_the_members_it_selects_gives_what_it_gives_over_the_whole(expr: str) -> None:
    program = compile_expression(expr)
    for statement in _cel_statements():
        whole = run(program, Activation.of(statement), expr)
        assert run(program, Activation.of(statement, reads(expr)), expr) == whole, (expr, statement["predicateType"])


def test_the_shipped_conditions_over_the_members_they_select() -> None:
    conditions = [c for name in SHIPPED for c in _shipped_conditions(name)]
    assert conditions
    for expr in conditions:
        program = compile_expression(expr)
        for statement in _cel_statements():
            assert run(program, Activation.of(statement, reads(expr)), expr) == run(
                program, Activation.of(statement), expr
            ), expr


def _shipped_conditions(name: str) -> list[str]:
    doc = yaml.safe_load((ROOT / "policies" / name).read_text())
    return [c["expr"] for a in doc["spec"].get("attestations", []) for c in a.get("conditions", [])]


def test_members_are_cut_to_what_is_selected() -> None:
    got = reads('predicate.runDetails.builder.id.startsWith("x") && size(subject) > 0 && has(predicate.a.b)')
    assert got == {"predicate": {"runDetails": {"builder": {"id": None}}, "a": {"b": None}}, "subject": None}
    statement = tekton_v1_statement()
    cut = prune(statement["predicate"], got["predicate"])
    assert cut == {"runDetails": {"builder": {"id": "https://tekton.dev/chains/v2"}}}
    # The evidence is copied where cut, never changed.
    assert "buildDefinition" in statement["predicate"]


@pytest.mark.parametrize(
    "expr",
    [
        "predicate.`runDetails`.builder.id != ''",  # a backquoted name
        'predicate.runDetails.builder.id == "unterminated',
        "predicate.runDetails.builder.id == \u00e9",  # a letter outside the lexer's alphabet
        "predicate.runDetails # builder",
    ],
)
def test_text_the_lexer_does_not_know_keeps_every_variable_whole(expr: str) -> None:
    assert reads(expr) == dict.fromkeys(VARIABLES)


def test_a_member_of_another_value_named_like_a_variable_is_not_a_reading() -> None:
    assert reads("statement.predicate.runDetails.builder.id != ''") == {
        "statement": {"predicate": {"runDetails": {"builder": {"id": None}}}}
    }
    # ...while a root-qualified or bare use is one, read whole where nothing is selected.
    assert reads("[.predicate][0] != {}") == {"predicate": None}


def test_evaluation_does_not_change_the_statement() -> None:
    statement = tekton_v1_statement()
    before = json.dumps(statement, sort_keys=True)
    assert provenance_facts(statement).version == "v1"
    for expr in EXPRESSIONS:
        run(compile_expression(expr), Activation.of(statement, reads(expr)), expr)
    assert json.dumps(statement, sort_keys=True) == before
    assert base64.b64decode(statement["predicate"]["runDetails"]["byproducts"][0]["content"])


def _paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every member path of the maps in `value` (lists are not entered: CEL selects no index)."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, sub in value.items():
            if key.isidentifier():
                out += _paths(sub, (*prefix, key))
    return out


def _generated(seed: int, count: int) -> list[str]:
    """Conditions over member chains of the statement as written, missing members, presence
    tests, optional selection, sizes and comparisons, combined: the shapes a cut could get wrong."""
    rng = random.Random(seed)
    statement = tekton_v1_statement()
    chains = [("predicate", *p) for p in _paths(statement["predicate"])]
    chains += [("statement", *p) for p in _paths(statement)]

    def chain() -> str:
        parts = list(rng.choice(chains))
        if rng.random() < 0.2:
            parts.insert(rng.randrange(1, len(parts) + 1), rng.choice(["nothing", "id", "params", "digest"]))
        return ".".join(parts)

    def atom() -> str:
        c = chain()
        return rng.choice([
            f"has({c})" if c.count(".") else f"{c} != null",
            f"{c} == {c}",
            f"type({c}) == map",
            f"size({c}) > 0",
            f'string({c}) != ""',
            f'{c}.?zz.orValue("x") == "x"' if rng.random() < 0.5 else f"{c} in [{c}]",
            f"[{c}].exists(v, v == {c})",
        ])

    def expr(depth: int = 0) -> str:
        if depth > 1 or rng.random() < 0.4:
            return atom()
        return f"({expr(depth + 1)}) {rng.choice(['&&', '||'])} {'!' if rng.random() < 0.3 else ''}({expr(depth + 1)})"

    return [expr() for _ in range(count)]


def test_generated_conditions_over_the_members_they_select() -> None:
    checked = 0
    outcomes = set()
    for expr in _generated(seed=19, count=250):
        try:
            program = compile_expression(expr)
        except ValueError:
            continue  # a generated shape the checker refuses at load never reaches evaluation
        for statement in _cel_statements():
            whole = run(program, Activation.of(statement), expr)
            assert run(program, Activation.of(statement, reads(expr)), expr) == whole, expr
            outcomes.add((whole[0], whole[1] is not None))
        checked += 1
    assert checked > 200
    assert outcomes == {(True, False), (False, False), (False, True)}  # true, false and errors all reached
