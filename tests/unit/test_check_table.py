"""One table of check ids (`policy.checkids`): the ids a policy declares are the ids its
evaluation emits, `policy explain` names the same ids, and docs/checks.md lists the table.

Each shipped policy and a policy that turns every typed rule on are evaluated over evidence
where every attestation entry is accepted (so every rule runs) and over evidence with none
(so every rule is skipped); both times the emitted ids must be the declared ids."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from slsacheck.audit import rules as audit_rules
from slsacheck.models.evidence import SignerInfo
from slsacheck.models.verdict import Outcome
from slsacheck.policy import checkids
from slsacheck.policy.evaluate import evaluate
from slsacheck.policy.explain import explain_policy
from slsacheck.policy.load import load_policies
from slsacheck.policy.model import Policy, ProvenanceRules, VulnerabilityRules
from tests.support.env import ROOT
from tests.support.policy_evidence import NOW, attestation, evidence, signature, tekton_v1_statement, write_policy
from tests.unit.test_policy_evaluate import POLICY as EVERY_RULE

SHIPPED = sorted(p.name for p in (ROOT / "policies").glob("*.yaml"))
_TRUSTED = SignerInfo(kind="keyless", key_fingerprint="11" * 32, subject="s", issuer="i", tlog=True)


def _policy(tmp_path: Path, name: str) -> Policy:
    if name == "every-rule":
        file = write_policy(tmp_path, EVERY_RULE, keys=("keys/release.pub", "keys/other.pub"))
    else:
        shutil.copy(ROOT / "policies" / name, tmp_path / name)
        write_policy(tmp_path, "", name="unused", keys=("cosign.pub",), roots=("trusted_root.json",))
        file = tmp_path / name
    (policy,) = load_policies([file]).policies
    return policy


def _statement(predicate_type: str) -> dict[str, Any]:
    statement = tekton_v1_statement()
    statement["predicateType"] = predicate_type
    return statement


def _emitted(policy: Policy, *, accepted: bool) -> list[str]:
    atts = [attestation(rule.authorities[0], _statement(rule.predicate_type), signer=_TRUSTED)
            for rule in policy.attestations] if accepted else []
    sigs = [signature(policy.signatures.authorities[0], _TRUSTED)] if policy.signatures else []
    checks = evaluate(policy, evidence(signatures=sigs, attestations=atts), now=NOW)
    if not accepted:
        assert all(c.outcome is Outcome.SKIP for c in checks if not c.id.endswith(".present")
                   and c.id != checkids.SIGNATURES_THRESHOLD)
    # Exceptions add their own lines (expired ones); they are not rules the policy checks.
    return [c.id for c in checks if not c.id.startswith("exceptions[")]


@pytest.mark.parametrize("name", [*SHIPPED, "every-rule"])
def test_every_policy_emits_exactly_the_ids_it_declares(tmp_path: Path, name: str) -> None:
    policy = _policy(tmp_path, name)
    declared = checkids.policy_check_ids(policy)
    assert declared, name
    for accepted in (True, False):
        assert _emitted(policy, accepted=accepted) == declared, (name, accepted)
    for cid in declared:
        assert audit_rules.documented(cid) is not None, f"{cid} has no help text"
    explained = re.findall(r"^\s*- \[(\S+)\] ", explain_policy(policy), flags=re.M)
    assert [c for c in explained if not c.startswith("exceptions[")] == [*declared, checkids.VERIFICATION_COMPLETE]


def test_the_every_rule_policy_reaches_every_typed_row(tmp_path: Path) -> None:
    declared = set(checkids.policy_check_ids(_policy(tmp_path, "every-rule")))
    rows = [*checkids.PROVENANCE_RULES, *checkids.VULNERABILITY_RULES]
    assert {r.id for r in rows} <= declared


def test_a_row_applies_only_when_its_field_is_set() -> None:
    empty = ProvenanceRules()
    assert [r.id for r in checkids.PROVENANCE_RULES if r.applies(empty)] == []
    assert [r.id for r in checkids.VULNERABILITY_RULES if r.applies(VulnerabilityRules())] == []


def test_docs_table_is_the_check_table() -> None:
    text = (ROOT / "docs" / "checks.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+) \|", text, flags=re.M)
    documented = [(cid, rule.replace("`", "").strip()) for cid, rule in rows]
    assert documented == [(c.id, c.rule) for c in checkids.CHECKS]
    assert set(audit_rules.HELP) == {c.id for c in checkids.CHECKS}
