"""CEL conditions mean what cel-go/cel-cpp mean: the features policies use, and where a lax
evaluator would differ (string(list), missing members, non-boolean results), failing closed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from slsacheck.policy.cel import Activation, CELCompileError, compile_expression, run

ROOT = Path(__file__).resolve().parents[2]


def _statement(params: list[Any] | None = None, **predicate: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "buildDefinition": {
            "buildType": "https://tekton.dev/chains/v2/slsa",
            "externalParameters": {"runSpec": {"params": params or []}},
        },
        "runDetails": {
            "builder": {"id": "https://tekton.dev/chains/v2"},
            "metadata": {"finishedOn": "2025-02-10T01:12:00Z"},
        },
    }
    body.update(predicate)
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "registry.example.com/app", "digest": {"sha256": "ab" * 32}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": body,
    }


def _judge(expr: str, statement: dict[str, Any]) -> tuple[bool, str | None]:
    return run(compile_expression(expr), Activation.of(statement), expr)


@pytest.mark.parametrize(
    "expr",
    [
        'predicate.buildDefinition.externalParameters.runSpec.params.exists(p, p.name == "IMAGE")',
        "subject.all(s, s.digest.sha256.size() == 64)",
        'subject.map(s, s.name) == ["registry.example.com/app"]',
        'subject.filter(s, s.name.startsWith("registry.example.com/")).size() == 1',
        '"runDetails" in predicate && "sha256" in subject[0].digest',
        'predicateType in ["https://slsa.dev/provenance/v1", "https://slsa.dev/provenance/v0.2"]',
        'predicate.runDetails.builder.id.matches("^https://tekton[.]dev/") && predicateType.endsWith("/v1")',
        'predicate.buildDefinition.buildType.split("/").size() == 6 && "A".lowerAscii() == "a"',
        'timestamp(predicate.runDetails.metadata.finishedOn) > timestamp("2025-01-01T00:00:00Z")',
        'timestamp(predicate.runDetails.metadata.finishedOn) - timestamp("2025-02-10T00:00:00Z") < duration("2h")',
        "has(predicate.runDetails.builder.id) && !has(predicate.runDetails.builder.version)",
        'predicate.runDetails.builder.?version.orValue("none") == "none"',
        'statement._type == "https://in-toto.io/Statement/v1" && statement.predicate == predicate',
        'size(subject) == 1 && int("64") == subject[0].digest.sha256.size()',
    ],
)
def test_features_policies_use_hold(expr: str) -> None:
    params = [{"name": "IMAGE", "value": "registry.example.com/app"}]
    assert _judge(expr, _statement(params)) == (True, None)


def test_false_fails_without_an_evaluator_message() -> None:
    assert _judge('predicateType == "https://example.com/other"', _statement()) == (False, None)


@pytest.mark.parametrize(("value", "kind"), [(["a", "b"], "list"), ({"k": "v"}, "map")])
def test_string_of_a_container_is_refused_not_flattened(value: Any, kind: str) -> None:
    # A lax evaluator turns the list into "['--insecure']" and the contains() check
    # matches by accident; with a clean value it would pass a condition that means nothing.
    expr = 'predicate.buildDefinition.externalParameters.runSpec.params.exists(p, string(p.value).contains("x"))'
    ok, why = _judge(expr, _statement([{"name": "ARGS", "value": value}]))
    assert not ok
    assert why is not None and "No matching overloads" in why and f"string({kind})" in why


def test_a_missing_member_is_an_error_naming_its_path() -> None:
    statement = _statement()
    del statement["predicate"]["buildDefinition"]
    ok, why = _judge('predicate.buildDefinition.buildType == "x"', statement)
    assert not ok
    assert why == "evaluation error: no such member in mapping: 'buildDefinition' (at predicate.buildDefinition)"
    ok, why = _judge('predicate.runDetails["byproducts"].size() == 0', _statement())
    assert not ok
    assert why is not None and "'byproducts'" in why and 'predicate.runDetails["byproducts"]' in why


def test_a_missing_member_cannot_be_negated_into_a_pass() -> None:
    # `!x.missing` is an error, not `!false`; only has() or `in` asks about presence.
    statement = _statement()
    ok, why = _judge("!predicate.runDetails.metadata.reproducible", statement)
    assert not ok and why is not None and "'reproducible'" in why


def test_or_and_absorb_errors_as_the_spec_says() -> None:
    statement = _statement()
    assert _judge("true || predicate.nope.x", statement) == (True, None)
    assert _judge("false && predicate.nope.x", statement) == (False, None)
    ok, why = _judge("false || predicate.nope", statement)
    assert not ok and why is not None and "'nope'" in why


@pytest.mark.parametrize(
    "statement",
    [
        _statement(evil={"count": 2**70}),  # beyond int64
        _statement(evil={"n": float("nan"), "count": 2**64}),
    ],
)
def test_values_cel_cannot_hold_fail_closed(statement: dict[str, Any]) -> None:
    ok, why = _judge("predicate.evil.count > 0", statement)
    assert not ok and why is not None and why.startswith("evaluation error")


def test_a_runtime_non_boolean_fails() -> None:
    ok, why = _judge("predicate.runDetails.builder.id", _statement())
    assert not ok and why is not None and "not a boolean" in why


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        ("predicate.x ==", "Syntax error"),
        ("nosuchvar == 1", "undeclared reference to 'nosuchvar'"),
        ('predicateType.nosuchfn("x")', "undeclared reference to 'nosuchfn'"),
        ("size(subject) + 1", "never a boolean"),
        ('"text"', "never a boolean"),
    ],
)
def test_mistakes_are_refused_at_load(expr: str, says: str) -> None:
    with pytest.raises(CELCompileError, match=says):
        compile_expression(expr)


def test_one_activation_serves_every_condition() -> None:
    activation = Activation.of(_statement([{"name": "IMAGE", "value": "x"}]))
    exprs = ["size(subject) == 1", 'predicate.runDetails.builder.id.startsWith("https://")', "predicate.nope"]
    results = [run(compile_expression(e), activation, e) for e in exprs]
    assert [ok for ok, _ in results] == [True, True, False]
    assert _judge("size(subject) == 1", _statement()) == (True, None)


def _shipped_condition(name: str) -> str:
    doc = yaml.safe_load((ROOT / "policies" / name).read_text())
    attestations = doc["spec"]["attestations"]
    exprs = [c["expr"] for a in attestations for c in a.get("conditions", [])]
    assert len(exprs) == 1, exprs
    return str(exprs[0])


@pytest.mark.parametrize("policy", ["tekton-slsa3.yaml", "tekton-pipeline.yaml"])
@pytest.mark.parametrize(
    "value",
    [
        "--skip-tls-verify",
        "--insecure=true",
        ["--dockerfile=Dockerfile", "--skip-tls-verify"],  # an array param, as kaniko's EXTRA_ARGS
        {"flags": "--insecure"},  # an object param
    ],
)
def test_shipped_tls_condition_catches_every_param_shape(policy: str, value: Any) -> None:
    params = [{"name": "IMAGE", "value": "registry.example.com/app"}, {"name": "EXTRA", "value": value}]
    ok, why = _judge(_shipped_condition(policy), _statement(params))
    assert (ok, why) == (False, None)


@pytest.mark.parametrize("policy", ["tekton-slsa3.yaml", "tekton-pipeline.yaml"])
def test_shipped_tls_condition_passes_clean_params_of_every_shape(policy: str) -> None:
    params = [
        {"name": "IMAGE", "value": "registry.example.com/app"},
        {"name": "EXTRA", "value": ["--dockerfile=Dockerfile", "--cache=true"]},
        {"name": "OBJ", "value": {"url": "https://github.com/acme/app", "depth": 1}},
        {"name": "N", "value": 3},
    ]
    assert _judge(_shipped_condition(policy), _statement(params)) == (True, None)


def test_one_program_serves_concurrent_verifications() -> None:
    # The webhook judges images on several threads with the policy set's compiled programs.
    expr = 'predicate.buildDefinition.externalParameters.runSpec.params.exists(p, p.value == "bad")'
    program = compile_expression(expr)

    def judge(i: int) -> bool:
        value = "bad" if i % 2 else f"good-{i}"
        ok, _ = run(program, Activation.of(_statement([{"name": "X", "value": value}])), expr)
        return ok

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(judge, range(2000)))
    assert results == [i % 2 == 1 for i in range(2000)]
