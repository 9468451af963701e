"""Policies tested before they are deployed: evaluate a policy against local in-toto
statements, offline, at a chosen "now" (what `kyverno test` and Conforma's `validate
input` give their users).

No registry and no signature is involved: a statement given here counts as signed by the
authorities named with `signed_by` (by default, by every authority of the policy, so that
what is tested is the statement's content). Signature facts are optional: with
`signed_by`, each named authority contributes one image signature (a distinct signer
each); without it, `signatures.threshold` is reported as skipped, never as passed. The
evaluation itself is `slsacheck.policy.evaluate`, the one every surface uses.

A suite (`slsacheck-tests.yaml` in a directory) lists cases with their expected outcome
and, optionally, the exact checks that fail; CI runs it with `slsacheck policy test DIR`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from slsacheck import _yaml
from slsacheck._json import parse
from slsacheck.errors import InputError
from slsacheck.models.digest import Digest
from slsacheck.models.evidence import Evidence, SignerInfo, VerifiedAttestation, VerifiedSignature
from slsacheck.models.mediatypes import IN_TOTO_PAYLOAD
from slsacheck.models.verdict import Check, Outcome, Verdict
from slsacheck.policy import checkids as ids
from slsacheck.policy.evaluate import evaluate, no_match_verdict, verdict
from slsacheck.policy.model import Policy, PolicySet
from slsacheck.policy.timeutil import parse_time
from slsacheck.policy.yamlsource import POLICY_LIMITS

SUITE_FILE = "slsacheck-tests.yaml"
OUTCOMES = ("pass", "warn", "fail")
_MAX_STATEMENT = 16 << 20


@dataclass(frozen=True)
class LocalStatement:
    """An in-toto statement read from a file (a bare statement, or a DSSE envelope's payload)."""

    source: str
    statement: Mapping[str, Any]


def read_statement(path: Path) -> LocalStatement:
    try:
        with path.open("rb") as fh:
            raw = fh.read(_MAX_STATEMENT + 1)
    except OSError as exc:
        raise InputError(f"--statement {path}: cannot read: {exc.strerror}") from None
    if len(raw) > _MAX_STATEMENT:
        raise InputError(f"--statement {path}: larger than {_MAX_STATEMENT >> 20} MiB")
    try:
        docs = _yaml.load_all(raw.decode("utf-8"), _yaml.Limits(max_bytes=_MAX_STATEMENT))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"--statement {path}: not JSON or YAML: {exc}") from None
    except yaml.YAMLError as exc:
        line, problem = _yaml.describe_error(exc)
        raise InputError(f"--statement {path}" + (f":{line}" if line else "") + f": not JSON or YAML: {problem}",
                         hint="a statement as `slsacheck provenance generate` writes it") from None
    doc = docs[0] if len(docs) == 1 else None
    if isinstance(doc, dict) and "payload" in doc and "payloadType" in doc:
        doc = _envelope_payload(path, doc)
    if not isinstance(doc, dict) or not isinstance(doc.get("predicateType"), str):
        raise InputError(f"--statement {path}: not an in-toto statement",
                         expected="a JSON object with _type, subject, predicateType and predicate "
                         "(as `slsacheck provenance generate` prints), or a DSSE envelope of one",
                         found=type(doc).__name__ if not isinstance(doc, dict) else "no predicateType")
    return LocalStatement(str(path), doc)


def _envelope_payload(path: Path, envelope: Mapping[str, Any]) -> Any:
    if envelope.get("payloadType") != IN_TOTO_PAYLOAD:
        raise InputError(f"--statement {path}: a DSSE envelope of {envelope.get('payloadType')!r}",
                         expected=IN_TOTO_PAYLOAD)
    try:
        return parse(base64.b64decode(str(envelope["payload"]), validate=True), strict=True)
    except (binascii.Error, ValueError) as exc:  # _json.Refused is a ValueError
        raise InputError(f"--statement {path}: the envelope's payload is not base64 JSON: {exc}",
                         expected="base64 of an in-toto statement (JSON, no duplicate keys)",
                         hint="pass the statement itself, or the envelope `slsacheck attest` wrote") from None


def parse_at(text: str, where: str = "--at") -> datetime:
    when = parse_time(text)
    if when is None:
        raise InputError(f"{where} {text!r}: not a time", expected="RFC 3339, e.g. 2026-03-01T12:00:00Z, or a date",
                         found=text)
    return when


def _subject_digest(statements: Sequence[LocalStatement]) -> tuple[str | None, Digest | None]:
    for s in statements:
        for subject in s.statement.get("subject") or []:
            if not isinstance(subject, Mapping):
                continue
            digest = subject.get("digest")
            if isinstance(digest, Mapping) and isinstance(digest.get("sha256"), str):
                try:
                    name = subject.get("name")
                    return (name if isinstance(name, str) else None), Digest.parse(f"sha256:{digest['sha256']}")
                except ValueError:
                    continue
    return None, None


def _signer(authority: str) -> SignerInfo:
    # A stand-in identity per authority: distinct authorities are distinct signers, and the
    # log proof an authority may require is taken as given (the test is about content).
    return SignerInfo("key", key_fingerprint=f"policy-test:{authority}", tlog=True)


def evidence_for(policy: Policy, image: str, digest: Digest, statements: Sequence[LocalStatement],
                 signed_by: Sequence[str]) -> Evidence:
    for name in signed_by:
        if name not in policy.authorities:
            raise InputError(f"--signed-by {name}: not an authority of policy {policy.name}",
                             expected="one of " + ", ".join(policy.authorities), found=name)
    signers = list(signed_by) or list(policy.authorities)
    attestations = [
        VerifiedAttestation(a, _signer(a), s.source, str(s.statement["predicateType"]), s.statement)
        for s in statements for a in signers
    ]
    signatures = [VerifiedSignature(a, _signer(a), f"--signed-by {a}") for a in signed_by]
    return Evidence(image, digest, tuple(signatures), tuple(attestations))


def _no_signature_facts(checks: list[Check]) -> list[Check]:
    return [
        replace(c, outcome=Outcome.SKIP, expected=c.expected, found="not evaluated: no signature facts",
                hint="pass --signed-by AUTHORITY to test the signature rule")
        if c.id == ids.SIGNATURES_THRESHOLD else c
        for c in checks
    ]


def test_policies(policy_set: PolicySet, statements: Sequence[LocalStatement], *, image: str | None,
                  signed_by: Sequence[str], now: datetime) -> Verdict:
    """The Verdict `policy_set` gives `image` whose evidence is `statements` (offline)."""
    named, digest = _subject_digest(statements)
    if "@" in (image or ""):
        image, _, pinned = (image or "").partition("@")
        digest = Digest.parse(pinned)
    image = image or named
    if image is None:
        raise InputError("which image is this?", expected="--image REF, or a statement subject with a name",
                         found="no --image and no subject name")
    if digest is None:
        raise InputError("no image digest to test against",
                         expected="a statement subject with a sha256 digest, or --image REF@sha256:...")
    matching = policy_set.matching(image)
    if not matching:
        return no_match_verdict(image, digest, policy_set.no_match)
    checks: list[Check] = []
    for policy in matching:
        found = evaluate(policy, evidence_for(policy, image, digest, statements, signed_by), now=now)
        checks += found if signed_by else _no_signature_facts(found)
    return verdict(image, digest, matching, checks)


# -- suites -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    image: str | None
    statements: tuple[Path, ...]
    signed_by: tuple[str, ...]
    at: datetime | None
    expect: str
    failed_checks: tuple[str, ...] | None


@dataclass(frozen=True)
class Suite:
    path: Path
    policies: tuple[Path, ...]
    cases: tuple[Case, ...]


@dataclass(frozen=True)
class CaseResult:
    case: Case
    verdict: Verdict
    problems: tuple[str, ...]  # how the outcome differs from what the case expects; empty: as expected


def _text_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where}: expected a list of strings", found=json.dumps(value, default=str)[:80])
    return value


def load_suite(directory: Path) -> Suite:
    path = directory / SUITE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{directory}: no {SUITE_FILE} there ({exc.strerror})",
                         hint=f"a test folder holds {SUITE_FILE}: policies: [...] and cases: [...]") from None
    try:
        docs = _yaml.load_all(text, POLICY_LIMITS)
    except yaml.YAMLError as exc:
        line, problem = _yaml.describe_error(exc)
        raise InputError(f"{path}" + (f":{line}" if line else "") + f": {problem}") from None
    doc = docs[0] if len(docs) == 1 else None
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list) or not doc["cases"]:
        raise InputError(f"{path}: expected policies: [FILE...] and a non-empty cases: [...]")
    policies = tuple(directory / p for p in _text_list(doc.get("policies"), f"{path}: policies"))
    if not policies:
        raise InputError(f"{path}: policies: must name at least one policy file")
    cases = []
    for i, raw in enumerate(doc["cases"]):
        where = f"{path}: cases[{i}]"
        if not isinstance(raw, dict):
            raise InputError(f"{where}: expected a mapping")
        unknown = set(raw) - {"name", "image", "statements", "signedBy", "at", "expect", "failedChecks"}
        if unknown:
            raise InputError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}",
                             expected="name, image, statements, signedBy, at, expect, failedChecks")
        expect = raw.get("expect")
        if expect not in OUTCOMES:
            raise InputError(f"{where}: expect must be one of {', '.join(OUTCOMES)}", found=repr(expect))
        statements = _text_list(raw.get("statements"), f"{where}.statements")
        if not statements:
            raise InputError(f"{where}.statements: at least one statement file")
        at = raw.get("at")
        failed = raw.get("failedChecks")
        cases.append(Case(
            name=str(raw.get("name") or f"case {i}"),
            image=str(raw["image"]) if raw.get("image") is not None else None,
            statements=tuple(directory / s for s in statements),
            signed_by=tuple(_text_list(raw.get("signedBy", []), f"{where}.signedBy")),
            at=parse_at(str(at), f"{where}.at") if at is not None else None,
            expect=str(expect),
            failed_checks=tuple(_text_list(failed, f"{where}.failedChecks")) if failed is not None else None,
        ))
    return Suite(path, policies, tuple(cases))


def run_case(case: Case, policy_set: PolicySet, now: datetime) -> CaseResult:
    statements = [read_statement(p) for p in case.statements]
    result = test_policies(policy_set, statements, image=case.image, signed_by=case.signed_by,
                           now=case.at or now)
    problems = []
    if result.outcome != case.expect:
        problems.append(f"expected {case.expect}, found {result.outcome}")
    if case.failed_checks is not None:
        failed = sorted({c.id for c in result.failed})
        if failed != sorted(set(case.failed_checks)):
            problems.append(f"expected failed checks [{', '.join(sorted(set(case.failed_checks)))}], "
                            f"found [{', '.join(failed)}]")
    return CaseResult(case, result, tuple(problems))
