"""Who judges a promoted copy, and what the record and the VSA say about it.

- A staging policy names only the source's repository: the production registry and an
  `oci:` hand-over directory are judged by it anyway (the evidence must arrive intact),
  and the record says so per destination.
- A destination whose own name a stricter policy matches is judged by both; when it
  fails there, the copy is reported partial (tags withheld), and a re-run after the
  missing evidence arrives finishes it.
- `mode: warn` lets an unsigned image through, but the record and the signed VSA say
  FAILED with no levels; `--no-match allow|warn` promotes an image no policy judged and
  says so; `--no-match deny` refuses it and writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from slsacheck.attach.sign import sign_image
from slsacheck.errors import NotFound
from slsacheck.models.digest import Digest
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from slsacheck.oci.store import Store
from slsacheck.policy.load import load_policies
from slsacheck.promote.vsa import LEVELS_ANNOTATION, VSA_PREDICATE_TYPE
from slsacheck.verify.collect import collect_evidence
from tests.integration.test_promote_helpers import (
    Keys,
    check_verdicts,
    judge,
    keys,
    policy_file,
    signed_index,
    signer,
    valid_record,
)
from tests.support.cli import Cli, cli
from tests.support.policy_evidence import key_policy
from tests.support.registry import RunningRegistry

__all__ = ["cli", "keys"]  # fixtures, imported so pytest finds them here

pytestmark = pytest.mark.integration
LEVEL3 = {LEVELS_ANNOTATION: "SLSA_BUILD_LEVEL_3"}


def _tags(store: Store) -> set[str]:
    try:
        return set(store.tags())
    except NotFound:
        return set()


def _vsas(store: Store, digest: str, name: str, policy: Path) -> list[dict[str, Any]]:
    """The VSA predicates at `store` that verify with the policy's authorities."""
    authorities = load_policies([policy]).policies[0].authorities
    evidence = collect_evidence(store, Digest.parse(digest), name, authorities)
    return [dict(a.statement["predicate"]) for a in evidence.attestations
            if a.predicate_type == VSA_PREDICATE_TYPE]


def test_staging_policy_judges_production_and_the_air_gapped_handover(  # noqa: PLR0917 - fixtures
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reg = registry_http
    built = signed_index(reg, f"{repo_name}/staging/app", "v1", keys.release)
    staging = policy_file(tmp_path, [f"{reg.host}/{repo_name}/staging/**"], keys.release_pub, name="staging")
    monkeypatch.chdir(tmp_path)  # the hand-over named as a user types it: relative to here
    dst = f"{reg.host}/{repo_name}/prod/app"
    run = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", dst, "oci:./handover",
              "--policy", staging.name, "--output", "json")
    assert run.code == 0, run.out + run.err
    doc = run.json()
    valid_record(doc)
    check_verdicts(doc)
    assert doc["outcome"] == "promoted"
    assert doc["source"]["judgedBy"] == ["staging"] and doc["source"]["verificationResult"] == "PASSED"
    for d in doc["destinations"]:
        assert d["outcome"] == "promoted" and d["digest"] == str(built.digest), d
        assert d["judgedBy"] == [{"policy": "staging", "matches": ["source"]}]
        assert d["verdict"]["policies"] == ["staging"] and d["verdict"]["outcome"] == "pass"
        assert d["verificationResult"] == "PASSED" and not d["tagsWithheld"]
        # The evidence arrived: signatures and attestations verified AT the destination.
        assert len(d["verdict"]["evidence"]["signatures"]["verified"]) == 2
        assert len(d["verdict"]["evidence"]["attestations"]["verified"]) == 2
    assert reg.store(f"{repo_name}/prod/app").resolve("v1").digest == built.digest
    handover = LayoutStore(tmp_path / "handover")
    assert handover.resolve("v1").digest == built.digest
    # Another reader of the hand-over, with a policy naming it, agrees.
    named = policy_file(tmp_path, [f"oci:{tmp_path}/**"], keys.release_pub, name="reader")
    assert judge(f"oci:{tmp_path}/handover:v1", named).outcome == "pass"

    text = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", dst, "oci:./handover", "--policy", "staging.yaml")
    assert text.code == 0, text.out + text.err
    assert text.out.count("judged by: staging (source)") == 2
    assert "result: promoted (verification result PASSED)" in text.out


def test_a_destination_that_asks_for_more_is_left_partial_then_finished_by_a_rerun(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    built = signed_index(reg, f"{repo_name}/staging/app", "v1", keys.release)
    staging = policy_file(tmp_path, [f"{reg.host}/{repo_name}/staging/**"], keys.release_pub, name="staging")
    prod_policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/prod/**"], keys.other_pub, name="prod",
                              attest=False)
    dst = f"{reg.host}/{repo_name}/prod/app"
    argv = ("promote", f"{reg.host}/{repo_name}/staging/app:v1", dst, "--policy", str(staging),
            "--policy", str(prod_policy))
    first = cli(*argv)
    assert first.code == 1, first.out + first.err
    assert "judged by: staging (source), prod (destination)" in first.out
    assert "PARTIAL: image and evidence copied, tags withheld" in first.out
    assert "run the promotion again to finish it" in first.err
    store = reg.store(f"{repo_name}/prod/app")
    assert "v1" not in _tags(store)
    still = cli(*argv)
    assert still.code == 1 and "an earlier run already copied the image here and withheld its tags" in still.out
    assert "v1" not in _tags(store)

    # The second signer signs the copy at the destination; the re-run finishes the job.
    sign_image(store, reg.ref(f"{repo_name}/prod/app").with_digest(built.digest), signer(keys.other),
               fmt="legacy")
    second = cli(*argv, "--output", "json")
    assert second.code == 0, second.out + second.err
    d = second.json()["destinations"][0]
    valid_record(second.json())
    assert d["outcome"] == "promoted" and d["resumed"] is True and d["tagsWithheld"] is False
    assert d["copied"]["image"]["manifestsCopied"] == []
    assert {c["policy"] for c in d["verdict"]["checks"]} == {"staging", "prod"}
    assert store.resolve("v1").digest == built.digest
    # Once finished, a third run has nothing to resume.
    third = cli(*argv, "--output", "json").json()["destinations"][0]
    assert third["resumed"] is False and third["copied"]["sentNothing"]


def test_warn_mode_promotes_but_every_summary_says_failed(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    built = scratch.image({"unsigned": b"no signature, no provenance\n"})
    scratch.push(reg.store(f"{repo_name}/staging/app"), built, tag="v1")
    policy = tmp_path / "warn.yaml"
    policy.write_text(key_policy("warn", [f"{reg.host}/{repo_name}/**"], key=keys.release_pub, mode="warn",
                                 annotations=LEVEL3))
    dst = f"{reg.host}/{repo_name}/prod/app"
    run = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", dst, "--policy", str(policy),
              "--attest-record", "--key", str(keys.release), "--output", "json")
    assert run.code == 0, run.out + run.err  # warn: nothing enforced
    doc = run.json()
    valid_record(doc)
    assert doc["source"]["verdict"]["outcome"] == "warn"
    assert doc["source"]["verificationResult"] == "FAILED"
    d = doc["destinations"][0]
    assert d["outcome"] == "promoted" and d["verificationResult"] == "FAILED"
    assert d["vsa"]["verificationResult"] == "FAILED" and d["vsa"]["verifiedLevels"] == []
    store = reg.store(f"{repo_name}/prod/app")
    assert store.resolve("v1").digest == built.digest
    vsas = _vsas(store, str(built.digest), dst, policy)
    assert len(vsas) == 2  # in .att and as a bundle referrer
    assert all(v["verificationResult"] == "FAILED" and v["verifiedLevels"] == [] for v in vsas)

    text = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", dst, "--policy", str(policy))
    assert text.code == 0 and "verification result FAILED" in text.out
    assert "result: promoted (verification result FAILED)" in text.out


def test_warn_mode_with_nothing_failed_still_passes(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    built = signed_index(reg, f"{repo_name}/staging/app", "v1", keys.release)
    policy = tmp_path / "warn.yaml"
    policy.write_text(key_policy("warn", [f"{reg.host}/{repo_name}/**"], key=keys.release_pub, mode="warn",
                                 attestation="custom", annotations=LEVEL3))
    dst = f"{reg.host}/{repo_name}/prod/app"
    run = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", dst, "--policy", str(policy),
              "--attest-record", "--key", str(keys.release), "--output", "json")
    assert run.code == 0, run.out + run.err
    d = run.json()["destinations"][0]
    assert d["verificationResult"] == "PASSED" and d["vsa"]["verifiedLevels"] == ["SLSA_BUILD_LEVEL_3"]
    vsas = _vsas(reg.store(f"{repo_name}/prod/app"), str(built.digest), dst, policy)
    assert vsas and all(v["verificationResult"] == "PASSED" for v in vsas)


@pytest.mark.parametrize("no_match", ["allow", "warn"])
def test_no_match_allow_or_warn_promotes_and_says_no_policy_judged_it(  # noqa: PLR0917 - fixtures
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path, no_match: str
) -> None:
    reg = registry_http
    built = scratch.image({"unjudged": no_match.encode()})
    scratch.push(reg.store(f"{repo_name}/staging/app"), built, tag="v1")
    policy = policy_file(tmp_path, ["registry.example.com/**"], keys.release_pub, name="elsewhere")
    layout = tmp_path / "handover"
    dst = f"{reg.host}/{repo_name}/prod/app"
    run = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", dst, f"oci:{layout}", "--policy", str(policy),
              "--no-match", no_match, "--output", "json")
    assert run.code == 0, run.out + run.err
    doc = run.json()
    valid_record(doc)
    assert doc["outcome"] == "promoted" and doc["source"]["digest"] == str(built.digest)
    assert doc["source"]["judgedBy"] == [] and doc["source"]["verificationResult"] == "FAILED"
    assert len(doc["destinations"]) == 2
    for d in doc["destinations"]:
        assert d["outcome"] == "promoted" and d["digest"] == str(built.digest)
        assert d["judgedBy"] == [] and d["verificationResult"] == "FAILED"
        assert d["verdict"]["policies"] == []
        assert d["copied"]["image"]["manifestsCopied"] == [str(built.digest)]
    assert reg.store(f"{repo_name}/prod/app").resolve("v1").digest == built.digest
    assert LayoutStore(layout).resolve("v1").digest == built.digest

    text = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", dst, "--policy", str(policy),
               "--no-match", no_match)
    assert text.code == 0
    assert "no policy judged" in text.out and "UNVERIFIED" in text.out


def test_no_match_deny_refuses_and_writes_nothing(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    scratch.push(reg.store(f"{repo_name}/staging/app"), scratch.image({"denied": b"1"}), tag="v1")
    policy = policy_file(tmp_path, ["registry.example.com/**"], keys.release_pub, name="elsewhere")
    run = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", f"{reg.host}/{repo_name}/prod/app",
              "--policy", str(policy), "--no-match", "deny", "--output", "json")
    assert run.code == 1, run.out + run.err
    doc = run.json()
    valid_record(doc)
    assert doc["outcome"] == "refused" and doc["destinations"] == []
    assert doc["source"]["verificationResult"] == "FAILED"
    assert _tags(reg.store(f"{repo_name}/prod/app")) == set()


def test_no_match_allow_still_answers_to_a_policy_naming_the_destination(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    scratch.push(reg.store(f"{repo_name}/staging/app"), scratch.image({"unsigned": b"2"}), tag="v1")
    prod = policy_file(tmp_path, [f"{reg.host}/{repo_name}/prod/**"], keys.release_pub, name="prod")
    run = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", f"{reg.host}/{repo_name}/prod/app",
              "--policy", str(prod), "--no-match", "allow", "--output", "json")
    assert run.code == 1, run.out + run.err
    d = run.json()["destinations"][0]
    assert d["outcome"] == "failed" and d["tagsWithheld"] is True
    assert d["judgedBy"] == [{"policy": "prod", "matches": ["destination"]}]
    assert "v1" not in _tags(reg.store(f"{repo_name}/prod/app"))


def test_source_unreachable_under_no_match_allow_is_incomplete(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    policy = policy_file(tmp_path, ["registry.example.com/**"], keys.release_pub, name="elsewhere")
    run = cli("promote", f"{reg.host}/{repo_name}/staging/missing:v1", f"{reg.host}/{repo_name}/prod/app",
              "--policy", str(policy), "--no-match", "allow", "--output", "json")
    assert run.code == 3, run.out + run.err
    doc = run.json()
    valid_record(doc)
    assert doc["outcome"] == "refused" and doc["source"]["verdict"]["outcome"] == "error"


def _with_exception(text: str, images: list[str], checks: list[str]) -> str:
    doc = yaml.safe_load(text)
    doc["spec"]["exceptions"] = [{"images": images, "checks": checks, "until": "2999-12-31",
                                  "reason": "attestation pipeline not rolled out yet"}]
    return yaml.safe_dump(doc, sort_keys=False)


def test_the_source_policy_judges_the_copy_as_it_judged_the_source(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    built = signed_index(reg, f"{repo_name}/staging/app", "v1", keys.release, attest=False)
    staging_images = f"{reg.host}/{repo_name}/staging/**"
    staging = tmp_path / "staging.yaml"
    staging.write_text(_with_exception(key_policy("staging", [staging_images], key=keys.release_pub),
                                       [staging_images], ["attestations.provenance.present"]))
    layout = tmp_path / "handover"
    argv = ("promote", f"{reg.host}/{repo_name}/staging/app:v1", f"{reg.host}/{repo_name}/prod/app",
            f"oci:{layout}", "--policy", str(staging), "--output", "json")
    run = cli(*argv)
    assert run.code == 0, run.out + run.err
    for d in run.json()["destinations"]:
        outcomes = {c["id"]: c["outcome"] for c in d["verdict"]["checks"]}
        assert outcomes == {"signatures.threshold": "pass", "attestations.provenance.present": "skip"}, d
        assert d["outcome"] == "promoted" and d["digest"] == str(built.digest)

    # A policy that names only the destination has no such exception: it judges by the
    # destination's name, and the missing attestation fails there.
    prod = policy_file(tmp_path, [f"{reg.host}/{repo_name}/prod/**"], keys.release_pub, name="prod")
    strict = cli(*argv[:-2], "--policy", str(prod), "--output", "json")
    assert strict.code == 1, strict.out + strict.err
    by_name = {d["name"]: d for d in strict.json()["destinations"]}
    failed = by_name[f"{reg.host}/{repo_name}/prod/app"]
    assert failed["outcome"] == "failed"
    assert {(c["policy"], c["id"]) for c in failed["verdict"]["checks"] if c["outcome"] == "fail"} == {
        ("prod", "attestations.provenance.present")}
    assert by_name[f"oci:{layout}"]["outcome"] == "promoted"
