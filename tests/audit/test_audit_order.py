"""Reports that do not depend on which worker finished first, empty audits, CI progress lines.

- `Spool.ordered()` gives the same records in the same order, with the same `sameAs`,
  whatever order they were appended in (that is, whichever tag of a digest a worker
  reached first); ties in the summary's top failing checks are broken by id.
- Two audits of a layout with several tags per digest, at concurrency 6, write
  byte-identical JSON reports once the timestamps are removed.
- Nothing to audit is exit 2 unless `--allow-empty`.
- Without a terminal, progress is plain lines: `audited N/T, F failed, E errors, R img/s`.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

from slsacheck.audit.progress import Lines
from slsacheck.audit.records import Spool, Summary
from slsacheck.models.reference import ImageRef
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from tests.audit import population as pop
from tests.audit.scenario import run_cli


def _record(image: str, digest: str, same: str | None = None, outcome: str = "pass") -> dict[str, Any]:
    return {"image": image, "repository": image.rsplit(":", 1)[0], "digest": digest, "outcome": outcome,
            "slsaLevel": 0, "verdict": {"image": image}, "evidence": None, "error": None, "sameAs": same}


def _group(first: str, others: list[str], digest: str) -> list[dict[str, Any]]:
    """Records as the runner writes them when `first` was the tag a worker reached first."""
    return [_record(first, digest), *(_record(o, digest, first) for o in others)]


def _ordered(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    spool = Spool()
    for record in records:
        spool.append(record)
    spool.close()
    try:
        return list(spool.ordered())
    finally:
        spool.discard()


def test_order_and_same_as_do_not_depend_on_arrival() -> None:
    d1, d2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    tags = ["r/a:z", "r/a:b", "r/a:m"]
    results = set()
    for first in tags:  # every tag in turn reached first by a worker
        group = _group(first, [t for t in tags if t != first], d1)
        for perm in itertools.permutations([*group, _record("r/b:x", d2, outcome="fail"),
                                            _record("r/a:b", "", outcome="error")]):
            results.add(json.dumps(_ordered(list(perm))))
    assert len(results) == 1
    ordered = json.loads(results.pop())
    assert [(r["image"], r["digest"]) for r in ordered] == [
        ("r/a:b", ""), ("r/a:b", d1), ("r/a:m", d1), ("r/a:z", d1), ("r/b:x", d2)]
    # The rule: the image that sorts first holds the verification; the others name it.
    assert [r["sameAs"] for r in ordered] == [None, None, "r/a:b", "r/a:b", None]


def test_an_image_listed_twice_is_verified_once() -> None:
    d = "sha256:" + "3" * 64
    ordered = _ordered([_record("r/a:v", d), _record("r/a:v", d, "r/a:v"), _record("r/a:u", d, "r/a:v")])
    assert [(r["image"], r["sameAs"]) for r in ordered] == [("r/a:u", None), ("r/a:v", "r/a:u"),
                                                           ("r/a:v", "r/a:u")]


def test_summary_ties_are_broken_by_check_id() -> None:
    tops = set()
    for perm in itertools.permutations(["z.check", "a.check", "m.check"]):
        summary = Summary()
        for check in perm:
            summary.add({"outcome": "fail", "verdict": {"checks": [{"id": check, "outcome": "fail"}]}})
        tops.add(json.dumps(summary.to_json()["failingChecks"]))
    assert tops == {json.dumps([{"id": i, "count": 1} for i in ("a.check", "m.check", "z.check")])}


def _without_times(text: str) -> str:
    doc = json.loads(text)
    assert doc.pop("startedAt") and doc.pop("finishedAt")
    return json.dumps(doc, sort_keys=False)


def test_two_runs_write_the_same_report(tmp_path: Path) -> None:
    keys = pop.make_keys(tmp_path)
    layout = tmp_path / "layout"
    store = LayoutStore(layout, create=True)
    for n in range(6):
        built = scratch.image({"f": f"image-{n}".encode()})
        for tag in (f"v{n}", f"w{n}", f"alias-{n}"):  # three tags of each digest
            scratch.push(store, built, tag=tag)
        if n % 2:
            pop.sign(store, ImageRef.parse(f"oci:{layout}:v{n}"), keys.release)
    runs = [run_cli("audit", f"oci:{layout}", "--format", "json", "--quiet", "--concurrency", "6")
            for _ in range(3)]
    assert {code for code, _, _ in runs} == {0}
    texts = {_without_times(out) for _, out, _ in runs}
    assert len(texts) == 1
    images = json.loads(runs[0][1])["images"]
    names = [r["image"] for r in images]
    assert names == sorted(names) and len(names) == 18
    for n in range(6):
        group = [r for r in images if r["image"].endswith((f":v{n}", f":w{n}", f":alias-{n}"))]
        assert [r["sameAs"] for r in group] == [None, f"oci:{layout}:alias-{n}", f"oci:{layout}:alias-{n}"]


def test_nothing_to_audit_is_a_usage_error_unless_allowed(tmp_path: Path) -> None:
    empty = tmp_path / "images.txt"
    empty.write_text("# no image this week\n")
    code, _, err = run_cli("audit", "--format", "json")
    assert code == 2 and "nothing to audit" in err and "--allow-empty" in err and "Traceback" not in err
    code, _, err = run_cli("audit", "--images-file", str(empty), "--format", "json")
    assert code == 2 and "listed no image" in err and "Traceback" not in err
    code, out, _ = run_cli("audit", "--images-file", str(empty), "--format", "json", "--allow-empty")
    assert code == 0 and json.loads(out)["images"] == [] and json.loads(out)["summary"]["images"] == 0
    code, out, _ = run_cli("audit", "--allow-empty", "--format", "json", "--quiet")
    assert code == 0 and json.loads(out)["images"] == []


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_lines_without_a_terminal() -> None:
    import io

    out, clock = io.StringIO(), _Clock()
    lines = Lines(out, 30.0, clock)
    for n, outcome in enumerate(["pass", "fail", "error", "pass", "fail", "fail"]):
        clock.now = 100.0 + 10 * n  # a record every 10 s: a line at 30 s and at 60 s
        lines.record({"outcome": outcome})
    lines.total(8)
    clock.now = 160.0
    lines.finish()
    assert out.getvalue().splitlines() == ["audited 4/?, 1 failed, 1 errors, 0 img/s",
                                           "audited 6/8, 3 failed, 1 errors, 0 img/s"]


def test_cli_progress_lines_in_a_log(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    store = LayoutStore(layout, create=True)
    for tag in ("a", "b", "c"):
        scratch.push(store, scratch.image({"f": tag.encode()}), tag=tag)
    code, _, err = run_cli("audit", f"oci:{layout}", "--format", "json", "--output", str(tmp_path / "r.json"),
                           "--progress-interval", "0")
    assert code == 0
    progress = [line for line in err.splitlines() if line.startswith("audited ")]
    assert len(progress) == 4  # one per image at interval 0, and the final line
    assert re.fullmatch(r"audited 3/3, 0 failed, 0 errors, \d+ img/s", progress[-1])
    code, _, err = run_cli("audit", f"oci:{layout}", "--format", "json", "--output", str(tmp_path / "q.json"),
                           "--quiet")
    assert code == 0 and "audited" not in err
