"""Shard reports as OCI artifacts: `audit --shard I/N --output-oci REPO:TAG`, `audit merge REF...`.

Against the real registry on loopback with TLS and basic auth: signed and attested images
audited whole and as 2 shards, each shard pushing its JSON report as an artifact; the merge
of the references equals the single run (timestamps aside), and oras-py, an independent
OCI client, pulls the same bytes the shard wrote to its file. Then what an attacker (or a
mistake) hands the merge: an artifact of another type, an image, a report layer whose bytes
do not hash to its digest (in transit, and on a shared volume's layout), a report from
another policy set; and an interrupted push that a re-run repairs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from slsacheck.audit import artifact
from slsacheck.audit.shard import MAX_SHARD_REPORT
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor, Manifest
from slsacheck.oci.layout import LayoutStore
from tests.audit import population as pop
from tests.audit.scenario import run_cli
from tests.integration.conftest import registry_auth
from tests.support.cli import registry_flags
from tests.support.env import missing
from tests.support.proxy import run_proxy
from tests.support.registry import RunningRegistry, push_small_image

oras_client: Any
try:
    import oras.client as oras_client
except ImportError:
    oras_client = None

__all__ = ["registry_auth"]

pytestmark = pytest.mark.integration
N = 2
IMAGES = 8


@dataclass(frozen=True)
class Fleet:
    reg: RunningRegistry
    repo: str
    reports: str  # the repository the shards push to
    policy: Path
    whole: Path  # the single run's JSON report
    files: list[Path]  # each shard's JSON report, written beside the push
    pushed: list[str]  # REPO@DIGEST each shard printed


def _populate(reg: RunningRegistry, repo: str, workdir: Path) -> Path:
    store = reg.store(repo)
    keys = pop.make_keys(workdir)
    predicate = pop.provenance()
    for i in range(IMAGES):
        tag = f"v{i}"
        pop.push_image(store, tag, f"oci-reports-{i}")
        ref = reg.ref(repo, tag)
        pop.sign(store, ref, keys.release)
        pop.attest(store, ref, keys.release, predicate)
    return pop.policy_file(workdir, f"{reg.host}/{repo}")


def _audit_args(reg: RunningRegistry, repo: str, policy: Path) -> list[str]:
    return ["audit", "--repository", f"{reg.host}/{repo}", "--policy", str(policy), "--concurrency", "4",
            "--fail-on", "never", *registry_flags(reg)]


@pytest.fixture(scope="module")
def fleet(registry_auth: RunningRegistry, tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    work = tmp_path_factory.mktemp("oci-reports")
    repo, reports = "fleet/app", "fleet/audit-reports"
    policy = _populate(registry_auth, repo, work)
    args = _audit_args(registry_auth, repo, policy)
    code, _, err = run_cli(*args, "--quiet", "--output", "json", "--output-file", str(work / "whole.json"))
    assert code == 0, err
    files, pushed = [], []
    for index in range(N):
        path = work / f"shard-{index}.json"
        code, out, err = run_cli(*args, "--shard", f"{index}/{N}", "--output", "json", "--output-file", str(path),
                                 "--output-oci", f"{registry_auth.host}/{reports}:nightly-shard-{index}")
        assert code == 0, err
        assert out == ""
        wrote = [line.removeprefix("wrote ") for line in err.splitlines() if line.startswith("wrote ")]
        assert wrote[0] == str(path) and wrote[1].startswith(f"{registry_auth.host}/{reports}@sha256:"), err
        files.append(path)
        pushed.append(wrote[1])
    return Fleet(registry_auth, repo, reports, policy, work / "whole.json", files, pushed)


def test_shards_pushed_as_artifacts_merge_to_the_single_run(fleet: Fleet, tmp_path: Path) -> None:
    reg = fleet.reg
    counts = [len(json.loads(p.read_text())["images"]) for p in fleet.files]
    assert all(counts) and sum(counts) == IMAGES  # both shards hold images
    store = reg.store(fleet.reports)
    for index, reference in enumerate(fleet.pushed):
        manifest = store.fetch_manifest(reference.rsplit("@", 1)[1])
        doc = manifest.json
        assert doc["mediaType"] == mt.OCI_MANIFEST and doc["artifactType"] == artifact.REPORT_TYPE
        assert doc["config"] == {"mediaType": mt.OCI_EMPTY, "digest": str(Descriptor.of(b"{}", "x").digest),
                                 "size": 2}
        (layer,) = manifest.layers
        assert layer.media_type == artifact.REPORT_TYPE
        assert layer.annotations == {artifact.ANN_TITLE: f"audit-shard-{index}-of-{N}.json"}
        assert doc["annotations"][artifact.ANN_SHARD] == f"{index}/{N}"
        # the artifact holds exactly the bytes the shard wrote to its file
        assert store.fetch_blob(layer) == fleet.files[index].read_bytes()
        assert store.resolve(f"nightly-shard-{index}").digest == manifest.digest

    by_tag = [f"{reg.host}/{fleet.reports}:nightly-shard-{i}" for i in reversed(range(N))]
    for sources in (by_tag, fleet.pushed, [fleet.pushed[0], str(fleet.files[1])]):  # tags, digests, mixed
        out = tmp_path / "merged.json"
        code, _, err = run_cli("audit", "merge", *sources, "--output", "json", "--output-file", str(out),
                               "--fail-on", "never", *registry_flags(reg))
        assert code == 0, (sources, err)
        difference = pop.report_difference(out.read_text(), fleet.whole.read_text())
        assert difference is None, difference
        out.unlink()


def test_oras_pulls_the_same_bytes(fleet: Fleet, tmp_path: Path) -> None:
    """oras-py, an independent client, pulls each shard's artifact: the file it writes (named by
    the title annotation) is the shard's report byte for byte."""
    if oras_client is None:
        missing("oras-py (pip install -e '.[test]')")
    reg = fleet.reg
    client = oras_client.OrasClient(hostname=reg.host, tls_verify=str(reg.ca_path), auth_backend="basic")
    client.auth.set_basic_auth(reg.username, reg.password)
    for index in range(N):
        outdir = tmp_path / f"pulled-{index}"
        files = client.pull(target=f"{reg.host}/{fleet.reports}:nightly-shard-{index}", outdir=str(outdir))
        assert [Path(f).name for f in files] == [f"audit-shard-{index}-of-{N}.json"]
        assert Path(files[0]).read_bytes() == fleet.files[index].read_bytes()
        manifest = client.get_manifest(f"{reg.host}/{fleet.reports}:nightly-shard-{index}")
        assert manifest["artifactType"] == artifact.REPORT_TYPE


def _push_artifact(reg: RunningRegistry, repo: str, tag: str, *, artifact_type: str | None,
                   layers: list[tuple[bytes, str]], config: tuple[bytes, str] = (b"{}", mt.OCI_EMPTY)) -> str:
    """An artifact pushed as an attacker with push rights would: any type, any layers."""
    store = reg.store(repo)
    descriptors = []
    for data, media_type in layers:
        descriptor = Descriptor.of(data, media_type, annotations={artifact.ANN_TITLE: "audit.json"})
        store.push_blob(descriptor, data)
        descriptors.append(descriptor.to_json())
    config_descriptor = Descriptor.of(config[0], config[1])
    store.push_blob(config_descriptor, config[0])
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": config_descriptor.to_json(),
                           "layers": descriptors}
    if artifact_type is not None:
        doc["artifactType"] = artifact_type
    store.push_manifest(json.dumps(doc).encode(), mt.OCI_MANIFEST, tag=tag)
    return f"{reg.host}/{repo}:{tag}"


def _merge(reg: RunningRegistry, *sources: str, out: Path) -> tuple[int, str]:
    code, _, err = run_cli("audit", "merge", *sources, "--output", "json", "--output-file", str(out),
                           *registry_flags(reg))
    return code, err


def test_merge_refuses_artifacts_that_are_not_this_audits_reports(fleet: Fleet, tmp_path: Path) -> None:
    reg = fleet.reg
    report = fleet.files[0].read_bytes()
    other_repo = "fleet/other"
    image = push_small_image(reg.store(other_repo), "app", seed="not-a-report")
    # another policy set: a real shard run with another policy, pushed the same way
    other_policy = fleet.policy.with_name("release-b.yaml")  # beside its key file
    other_policy.write_text(fleet.policy.read_text().replace("name: release", "name: release-b", 1))
    code, _, err = run_cli(*_audit_args(reg, fleet.repo, other_policy), "--shard", f"0/{N}", "--quiet",
                           "--output-oci", f"{reg.host}/{other_repo}:policy-b-shard-0")
    assert code == 0, err
    cases = {
        "another artifact type": (_push_artifact(reg, other_repo, "sbom", artifact_type="application/spdx+json",
                                                 layers=[(report, artifact.REPORT_TYPE)]),
                                  2, "is not an audit report artifact"),
        "no artifact type": (_push_artifact(reg, other_repo, "untyped", artifact_type=None,
                                            layers=[(report, artifact.REPORT_TYPE)]),
                             2, "is not an audit report artifact"),
        "a layer of another type": (_push_artifact(reg, other_repo, "as-json", artifact_type=artifact.REPORT_TYPE,
                                                   layers=[(report, "application/json")]),
                                    2, "expected one report layer"),
        "two report layers": (_push_artifact(reg, other_repo, "two", artifact_type=artifact.REPORT_TYPE,
                                             layers=[(report, artifact.REPORT_TYPE),
                                                     (fleet.files[1].read_bytes(), artifact.REPORT_TYPE)]),
                              2, "expected one report layer"),
        "a config that is not empty": (_push_artifact(reg, other_repo, "config", artifact_type=artifact.REPORT_TYPE,
                                                      layers=[(report, artifact.REPORT_TYPE)],
                                                      config=(b'{"a":1}', mt.OCI_CONFIG)),
                                       2, "config is not the empty descriptor"),
        "an image": (f"{reg.host}/{other_repo}@{image.manifest.digest}", 2, "is not an audit report artifact"),
        "another policy set": (f"{reg.host}/{other_repo}:policy-b-shard-0", 2, "differ in policy set"),
        "a tag that is not there": (f"{reg.host}/{other_repo}:absent", 3, "MANIFEST_UNKNOWN"),
    }
    for case, (source, status, words) in cases.items():
        out = tmp_path / "x.json"
        code, err = _merge(reg, source, str(fleet.files[1]), out=out)
        assert code == status, (case, err)
        assert words in err and "Traceback" not in err, (case, err)
        assert not out.exists(), case  # refused before any report is written


def test_merge_refuses_a_report_whose_bytes_are_not_its_digest_in_transit(
        registry_http: RunningRegistry, tmp_path: Path) -> None:
    """A registry (or anything between) that serves other bytes for the report layer."""
    repo = "fleet/transit"
    policy = _populate(registry_http, repo, tmp_path)
    args = _audit_args(registry_http, repo, policy)
    refs = []
    for index in range(N):
        ref = f"{registry_http.host}/{repo}-reports:shard-{index}"
        code, _, err = run_cli(*args, "--shard", f"{index}/{N}", "--quiet", "--output-oci", ref)
        assert code == 0, err
        refs.append(ref)
    with run_proxy(registry_http.host) as proxy:
        proxy.tamper("/blobs/sha256:")
        proxied = [r.replace(registry_http.host, proxy.host) for r in refs]
        code, err = _merge(registry_http, *proxied, out=tmp_path / "m.json")
    assert code == 1 and "Traceback" not in err, err
    assert "digest" in err.lower(), err
    assert not (tmp_path / "m.json").exists()


def test_layout_on_a_shared_volume_and_a_tampered_blob(fleet: Fleet, tmp_path: Path) -> None:
    """`--output-oci oci:DIR:TAG` (a volume the Job's pods share): merged, and refused once
    someone with write access to the volume rewrites a report."""
    reg = fleet.reg
    volume = tmp_path / "reports"
    args = _audit_args(reg, fleet.repo, fleet.policy)
    for index in range(N):
        code, _, err = run_cli(*args, "--shard", f"{index}/{N}", "--quiet",
                               "--output-oci", f"oci:{volume}:shard-{index}")
        assert code == 0, err
    sources = [f"oci:{volume}:shard-{i}" for i in range(N)]
    code, err = _merge(reg, *sources, out=tmp_path / "merged.json")
    assert code == 0, err
    difference = pop.report_difference((tmp_path / "merged.json").read_text(), fleet.whole.read_text())
    assert difference is None, difference

    store = LayoutStore(str(volume))
    (layer,) = store.fetch_manifest("shard-0").layers
    blob = volume / "blobs" / "sha256" / layer.digest.hex
    doc = json.loads(blob.read_bytes())
    for record in doc["images"]:
        record["outcome"] = "pass"  # what a tamperer would want the merge to say
    blob.chmod(0o644)
    blob.write_text(json.dumps(doc))
    code, err = _merge(reg, *sources, out=tmp_path / "tampered.json")
    assert code == 1 and "digest" in err.lower() and "Traceback" not in err, err
    assert not (tmp_path / "tampered.json").exists()


def test_a_push_cut_before_its_manifest_leaves_no_tag_and_a_rerun_repairs_it(
        registry_http: RunningRegistry, tmp_path: Path) -> None:
    repo = "fleet/rerun"
    policy = _populate(registry_http, repo, tmp_path)
    with run_proxy(registry_http.host) as proxy:
        front = policy.with_name("front.yaml")
        front.write_text(policy.read_text().replace(registry_http.host, proxy.host))
        args = ["audit", "--repository", f"{proxy.host}/{repo}", "--policy", str(front), "--quiet",
                "--fail-on", "never"]
        ref = f"{proxy.host}/{repo}-reports:shard-0"
        proxy.fail(f"/v2/{repo}-reports/manifests/", 500, method="PUT", times=None)
        code, _, err = run_cli(*args, "--shard", f"0/{N}", "--output-oci", ref)
        assert code == 3 and "Traceback" not in err, err
        pushes = [(s.method, s.path) for s in proxy.requests if f"/{repo}-reports/" in s.path
                  and s.method in ("POST", "PUT", "PATCH")]
        # the report layer and the config were sent before the manifest, which came last
        assert pushes[-1][0] == "PUT" and "/manifests/shard-0" in pushes[-1][1], pushes
        assert sum(1 for m, p in pushes if m == "PUT" and "/blobs/uploads/" in p) == 2, pushes
        code, err = _merge(registry_http, ref.replace(proxy.host, registry_http.host), out=tmp_path / "m.json")
        assert code == 3 and "Traceback" not in err, err  # no tag: nothing half-written to read
        proxy.clear()
        for index in range(N):
            code, _, err = run_cli(*args, "--shard", f"{index}/{N}", "--output-oci",
                                   f"{proxy.host}/{repo}-reports:shard-{index}")
            assert code == 0, err
        sent = [(s.method, s.path) for s in proxy.requests if f"/{repo}-reports/" in s.path]
        assert ("PUT", f"/v2/{repo}-reports/manifests/shard-0") in sent
    refs = [f"{registry_http.host}/{repo}-reports:shard-{i}" for i in range(N)]
    code, err = _merge(registry_http, *refs, out=tmp_path / "m.json")
    assert code == 0, err
    assert len(json.loads((tmp_path / "m.json").read_text())["images"]) == IMAGES


def test_output_oci_arguments(tmp_path: Path) -> None:
    for bad in ("registry.example/audits", "registry.example/audits@sha256:" + "a" * 64, "oci:/tmp/x"):
        code, _, err = run_cli("audit", "r.example/a:1", "--output-oci", bad)
        assert code == 2 and "--output-oci" in err and "tag" in err, (bad, err)
    code, _, err = run_cli("audit", "merge", "a.json", "--output-oci", "r.example/a:1")
    assert code == 2 and "--output-oci" in err
    # a mistyped file name stays a file (no request to a registry it would name by accident)
    code, _, err = run_cli("audit", "merge", str(tmp_path / "shard-0.json"))
    assert code == 2 and "cannot read" in err
    for text in ("reports/shard-0.json", "shard.json", "library/app:1", "./x:1", "../r.example/a:1"):
        assert not artifact.is_reference(text), text
    for text in ("registry.example/audits:s0", "127.0.0.1:5000/a/b:s0", "localhost/a@sha256:" + "a" * 64,
                 "oci:/volume/reports:shard-0"):
        assert artifact.is_reference(text), text


def test_a_report_layer_larger_than_the_cap_is_refused_before_it_is_read() -> None:
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "artifactType": artifact.REPORT_TYPE,
           "config": Descriptor.of(b"{}", mt.OCI_EMPTY).to_json(),
           "layers": [{"mediaType": artifact.REPORT_TYPE, "digest": "sha256:" + "0" * 64,
                       "size": MAX_SHARD_REPORT + 1}]}
    manifest = Manifest.parse(json.dumps(doc).encode())
    with pytest.raises(Exception, match="larger than a shard report may be"):
        artifact._report_layer(manifest, "r.example/a:b")

