"""`slsacheck audit --shard I/N` and `slsacheck audit merge`: N processes, one report.

The ~50-image scenario (tags sharing digests, images that fail, error, a repository whose
listing fails) audited whole and as 3 shards: the shards hold disjoint whole digests
whose union is the audit, and their merge is the single run's report byte for byte once
the timestamps are removed, in JSON and as PolicyReports. Then shard sets an attacker
or a mistake would hand the merge: another policy set, another release, a shard missing
or twice, an entry moved into another shard's report, a whole report, not JSON.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from slsacheck import __version__
from slsacheck.audit.shard import Shard, shard_of
from tests.audit.population import report_difference
from tests.audit.scenario import Expected, run_cli

pytestmark = pytest.mark.integration
N = 3


def _sources(scenario: Expected) -> list[str]:
    return ["--repository", scenario.app, "--repository", scenario.broken, *scenario.explicit,
            "--policy", str(scenario.policy), "--concurrency", "4", "--quiet", "--fail-on", "never"]


@pytest.fixture(scope="module")
def shards(scenario: Expected, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("shards")
    code, _, err = run_cli("audit", *_sources(scenario), "--format", "json", "--format", "policyreport",
                           "--output", f"{out}/whole/")
    assert code == 0, err
    paths = []
    for index in range(N):
        path = out / f"shard-{index}.json"
        code, _, err = run_cli("audit", *_sources(scenario), "--shard", f"{index}/{N}", "--format", "json",
                               "--output", str(path))
        assert code == 0, err
        paths.append(path)
    return out, paths


def test_shards_partition_whole_digests_and_merge_to_the_single_run(
        scenario: Expected, shards: tuple[Path, list[Path]], tmp_path: Path) -> None:
    out, paths = shards
    whole = json.loads((out / "whole" / "audit.json").read_text())
    parts = [json.loads(p.read_text()) for p in paths]
    assert [p["shard"] for p in parts] == [{"index": i, "count": N} for i in range(N)]
    assert whole["shard"] is None
    seen: list[tuple[str, Any]] = []
    for index, part in enumerate(parts):
        for record in part["images"]:
            assert shard_of(record["digest"] or record["image"], N) == index
            seen.append((record["image"], record["digest"]))
        # every tag of a digest is in the shard of that digest, sameAs inside the shard
        names = {r["image"] for r in part["images"]}
        assert all(r["sameAs"] in names for r in part["images"] if r["sameAs"])
    assert sorted(seen) == sorted((r["image"], r["digest"]) for r in whole["images"])
    assert all(part["images"] for part in parts)  # the scenario is spread over every shard
    assert {len({r["digest"] for r in p["images"]}) for p in parts} != {0}

    merged_dir = tmp_path / "merged"
    code, _, err = run_cli("audit", "merge", *map(str, reversed(paths)), "--format", "json",
                           "--format", "policyreport", "--output", f"{merged_dir}/", "--fail-on", "never")
    assert code == 0, err
    difference = report_difference((merged_dir / "audit.json").read_text(), (out / "whole" / "audit.json").read_text())
    assert difference is None, difference
    merged = json.loads((merged_dir / "audit.json").read_text())
    assert merged["startedAt"] == min(p["startedAt"] for p in parts)
    assert merged["finishedAt"] == max(p["finishedAt"] for p in parts)

    def without_seconds(path: Path) -> str:
        return re.sub(r'"seconds": \d+', "", path.read_text())

    assert without_seconds(merged_dir / "audit.policyreport.json") == without_seconds(
        out / "whole" / "audit.policyreport.json")
    # The exit status of the merge is the audit's: it holds failures and errors.
    code, _, _ = run_cli("audit", "merge", *map(str, paths), "--format", "json", "--output",
                         str(tmp_path / "m.json"))
    assert code == 3


def _rewrite(path: Path, tmp_path: Path, name: str, change: Any) -> str:
    doc = json.loads(path.read_text())
    change(doc)
    target = tmp_path / name
    target.write_text(json.dumps(doc))
    return str(target)


def _move_entry(doc: dict[str, Any], other: dict[str, Any]) -> None:
    doc["images"].append(other["images"][0])


def test_merge_refuses_what_is_not_the_shards_of_one_audit(
        scenario: Expected, shards: tuple[Path, list[Path]], tmp_path: Path) -> None:
    out, paths = shards
    first, *rest = map(str, paths)
    other_policy = scenario.policy.with_name(f"other-{tmp_path.name}.yaml")  # beside its key file
    other_policy.write_text(scenario.policy.read_text().replace("name: release", "name: release-b", 1))
    other_shard = tmp_path / "other-0.json"
    args = _sources(scenario)
    args[args.index(str(scenario.policy))] = str(other_policy)
    code, _, err = run_cli("audit", *args, "--shard", f"0/{N}", "--format", "json", "--output", str(other_shard))
    assert code == 0, err
    second = json.loads(paths[1].read_text())
    cases = {
        "another policy set": ([str(other_shard), *rest], "differ in policy set"),
        "another release": ([_rewrite(paths[0], tmp_path, "v.json",
                                      lambda d: d["tool"].update(version="0.0.1")), *rest],
                            "another slsacheck version"),
        "a shard missing": ([first, rest[0]], f"shard(s) 2 of {N} missing"),
        "a shard twice": ([first, *rest, first], "shard 0 given twice"),
        "an entry moved in": ([_rewrite(paths[0], tmp_path, "moved.json",
                                        lambda d: _move_entry(d, second)), *rest], "does not own"),
        "another partition": ([_rewrite(paths[0], tmp_path, "p.json",
                                        lambda d: d["shard"].update(count=N + 1)), *rest], f"shard 0/{N + 1}"),
        "a whole report": ([str(out / "whole" / "audit.json"), *rest], "is not a shard report"),
        "not JSON": ([str(out / "whole" / "audit.policyreport.json"), *rest], "not a JSON audit report"),
        "other sources": ([_rewrite(paths[0], tmp_path, "s.json", lambda d: d["sources"].append("extra")), *rest],
                          "differ in sources"),
    }
    for case, (files, words) in cases.items():
        code, _, err = run_cli("audit", "merge", *files, "--format", "json", "--output", str(tmp_path / "x.json"))
        assert code == 2, (case, err)
        assert words in err and "Traceback" not in err, (case, err)
    assert not (tmp_path / "x.json").exists()  # refused before any report is written
    assert __version__  # the version the merge compares against


def test_shard_arguments() -> None:
    for bad in ("4/4", "-1/4", "1", "a/b", "0/0", "1/4/2", "+1/4", " 1/4", "1/4_0", "\u0661/4", "\u00b2/4"):
        code, _, err = run_cli("audit", "r.example/a:1", f"--shard={bad}")
        assert code == 2 and "I/N" in err, (bad, err)
    assert Shard.parse("3/4") == Shard(3, 4)
    counts = [0] * 4
    for n in range(4000):
        counts[shard_of(f"sha256:{n:064x}", 4)] += 1
    assert min(counts) > 850  # an even spread: no shard runs four times longer than another
    code, _, err = run_cli("audit", "merge", "a.json", "--policy", "p.yaml")
    assert code == 2 and "--policy" in err
    code, _, err = run_cli("audit", "merge")
    assert code == 2 and "no shard report" in err


def test_a_shard_does_not_fetch_pinned_digests_it_does_not_own(
        scenario: Expected, shards: tuple[Path, list[Path]], audit_proxy: Any, tmp_path: Path) -> None:
    out, _ = shards
    whole = json.loads((out / "whole" / "audit.json").read_text())
    pinned = sorted({f"{r['repository']}@{r['digest']}" for r in whole["images"]
                     if r["digest"] and r["outcome"] in ("pass", "fail") and r["repository"] == scenario.app})[:9]
    owned = {p for p in pinned if shard_of(p.rsplit("@", 1)[1], N) == 0}
    assert owned and owned != set(pinned)
    first = len(audit_proxy.requests)
    code, text, err = run_cli("audit", *pinned, "--policy", str(scenario.policy), "--shard", f"0/{N}",
                              "--format", "json", "--quiet", "--fail-on", "never")
    assert code == 0, err
    assert {f"{r['repository']}@{r['digest']}" for r in json.loads(text)["images"]} == owned
    fetched = {s.path.rsplit("/", 1)[1] for s in audit_proxy.requests[first:] if "/manifests/sha256:" in s.path}
    others = {p.rsplit("@", 1)[1] for p in set(pinned) - owned}
    assert not fetched & others  # another shard's digests cost this shard no request
