"""`slsacheck audit` without a policy (an inventory), its sources and outputs, and an interrupted run.

- Inventory: each image's evidence described (signer named, nothing verified without an
  authority), the SLSA level it supports, outcome `inventory`; a layout (`oci:DIR`) audited
  tag by tag, its cosign evidence tags skipped; references from stdin with comments.
- Outputs: several formats need `--output`; a prefix names the files.
- SIGINT to a running `slsacheck audit` leaves whole documents (JSON, JUnit, HTML) of the
  images that finished, marked incomplete, and exit status 3.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from slsacheck.models.reference import ImageRef
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from tests.audit import population as pop
from tests.audit.scenario import Expected, run_cli
from tests.support.env import ROOT
from tests.support.proxy import Proxy

pytestmark = pytest.mark.integration


def test_inventory_describes_evidence_without_verifying(scenario: Expected, tmp_path: Path) -> None:
    app = scenario.app
    listing = f"# images of the release\n{app}:good-3\n\n{app}:unsigned-0  # never signed\n{app}:untrusted-0\n"
    code, out, _ = run_cli("audit", "--images-file", "-", "--format", "json", "--quiet", stdin=listing)
    assert code == 0
    doc = json.loads(out)
    assert doc["mode"] == "inventory" and "authority" in doc["note"]
    records = {r["image"]: r for r in doc["images"]}
    assert set(records) == {f"{app}:good-3", f"{app}:unsigned-0", f"{app}:untrusted-0"}
    assert {r["outcome"] for r in records.values()} == {"inventory"}
    assert all(r["verdict"] is None for r in records.values())
    good = records[f"{app}:good-3"]["evidence"]
    assert good["signatures"][0]["signer"] == {"kind": "key", "keyHint": None}
    assert good["signatures"][0]["verified"] is False
    assert "public key" in good["signatures"][0]["verifiableWith"]
    assert good["attestations"][0]["predicateType"] == pop.SLSA_V1
    # Nothing verified it: what the provenance claims (builder, sources) is not shown as a fact.
    assert good["provenance"] is None and "provenance" not in good["attestations"][0]
    assert records[f"{app}:good-3"]["slsaLevel"] == 1
    assert "not verified" in good["slsa"]["reason"] and "no policy" in good["slsa"]["reason"]
    assert records[f"{app}:unsigned-0"]["slsaLevel"] == 0
    assert records[f"{app}:untrusted-0"]["slsaLevel"] == 1  # a claim, whoever signed it
    assert doc["summary"]["outcomes"]["inventory"] == 3


def test_inventory_reports_errors_and_fail_on(scenario: Expected) -> None:
    tampered = f"{scenario.app}:tampered"
    code, out, _ = run_cli("audit", tampered, "--format", "json", "--quiet")
    assert code == 3
    assert json.loads(out)["images"][0]["outcome"] == "error"
    code, _, _ = run_cli("audit", tampered, "--format", "json", "--quiet", "--fail-on", "never")
    assert code == 0


def test_layout_is_audited_tag_by_tag(tmp_path: Path) -> None:
    keys = pop.make_keys(tmp_path)
    layout = tmp_path / "layout"
    store = LayoutStore(layout, create=True)
    for tag in ("v1", "v2"):
        scratch.push(store, scratch.image({"f": tag.encode()}), tag=tag)
    ref = ImageRef.parse(f"oci:{layout}:v1")
    pop.sign(store, ref, keys.release)
    pop.attest(store, ref, keys.release, pop.provenance())
    code, out, _ = run_cli("audit", f"oci:{layout}", "--format", "json", "--quiet")
    assert code == 0, out
    records = {r["image"]: r for r in json.loads(out)["images"]}
    assert set(records) == {f"oci:{layout}:v1", f"oci:{layout}:v2"}  # no .sig/.att tags listed as images
    assert records[f"oci:{layout}:v1"]["slsaLevel"] == 1  # provenance present, nothing to verify it with
    assert records[f"oci:{layout}:v2"]["slsaLevel"] == 0


def test_outputs_need_a_place_and_a_prefix_names_them(scenario: Expected, tmp_path: Path) -> None:
    code, _, err = run_cli("audit", f"{scenario.app}:good-3", "--format", "json", "--format", "html")
    assert code == 2 and "--output" in err
    prefix = tmp_path / "nightly"
    code, _, err = run_cli("audit", f"{scenario.app}:good-3", "--format", "json", "--format", "markdown",
                        "--output", str(prefix))
    assert code == 0
    assert json.loads((tmp_path / "nightly.json").read_text())["summary"]["images"] == 1
    assert (tmp_path / "nightly.md").read_text().startswith("## slsacheck audit")
    assert "wrote" in err and "1 image(s)" in err


def _wait_for(proxy: Proxy, path: str, count: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):  # bounded: 60 s
        if proxy.count("GET", path) >= count or process.poll() is not None:
            return
        time.sleep(0.1)


def test_sigint_leaves_whole_partial_reports(scenario: Expected, audit_proxy: Proxy, tmp_path: Path) -> None:
    from junitparser import JUnitXml

    out = tmp_path / "partial"
    before = audit_proxy.count("GET", f"/{scenario.base}/app/manifests/")
    # Rate limited, so that the audit is surely midway when the signal comes.
    argv = [sys.executable, "-m", "slsacheck", "audit", "--repository", scenario.app, "--policy",
            str(scenario.policy), "--format", "json", "--format", "junit", "--format", "html", "--format", "sarif",
            "--output", f"{out}/", "--rate-limit", "8", "--concurrency", "2", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(audit_proxy, f"/{scenario.base}/app/manifests/", before + 25, process)
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 3, err.decode()
    assert b"interrupted" in err
    doc: dict[str, Any] = json.loads((out / "audit.json").read_text())
    assert doc["complete"] is False and doc["interrupted"] is True
    total = sum(1 for i in scenario.images if i.startswith(scenario.app + ":"))
    assert 0 < len(doc["images"]) < total
    assert doc["summary"]["images"] == len(doc["images"])
    assert all(r["outcome"] in {"pass", "fail", "error"} for r in doc["images"])
    xml = JUnitXml.fromfile(str(out / "audit.junit.xml"))
    assert len(list(xml)) == len(doc["images"])
    assert (out / "audit.html").read_text().rstrip().endswith("</html>")
    sarif = json.loads((out / "audit.sarif").read_text())
    assert sarif["runs"][0]["invocations"][0]["executionSuccessful"] is False


def test_fail_on_decides_the_exit_status(scenario: Expected, tmp_path: Path) -> None:
    warn_policy = tmp_path / "release.yaml"
    warn_policy.write_text(scenario.policy.read_text().replace("mode: enforce", "mode: warn"))
    (tmp_path / "release.pub").write_bytes((scenario.policy.parent / "release.pub").read_bytes())
    image = f"{scenario.app}:unsigned-2"
    args = ("audit", image, "--policy", str(warn_policy), "--format", "json", "--quiet")
    code, out, _ = run_cli(*args)
    assert code == 0 and json.loads(out)["images"][0]["outcome"] == "warn"
    assert run_cli(*args, "--fail-on", "warn")[0] == 1
    code, _, _ = run_cli("audit", image, "--policy", str(scenario.policy), "--quiet", "--fail-on", "never")
    assert code == 0
    code, _, _ = run_cli("audit", image, "--policy", str(scenario.policy), "--quiet")
    assert code == 1
