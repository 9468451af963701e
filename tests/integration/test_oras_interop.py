"""ORAS interop: oras-py, an independent OCI client, reads what slsacheck attaches, and
slsacheck finds and carries what oras-py attaches. Real registry on loopback, TLS and auth.

slsacheck keeps its own registry client (oras-py re-serialises manifests and does not check
digests on read, see `slsacheck/oci/_http.py`); these tests prove the two agree on the wire:

- `slsacheck copy` pushes an image oras-py reads at the same digest, every blob hashing to its
  descriptor;
- slsacheck `sign`/`attest` (cosign tags and bundle referrers): oras-py pulls the `.sig` and
  bundle manifests and their blobs, and finds the bundles in the referrers listing the
  registry offers (Distribution 2.8 has no referrers API, so the tag-schema index
  `sha256-<hex>`, as the OCI distribution spec's fallback and oras-go use it);
- oras-py pushes an SBOM artifact whose `subject` is the image and, the registry having no
  referrers API, adds it to the tag-schema index as oras-go does (oras-py 0.2 leaves that
  step to its caller): `slsacheck inspect` lists it, `slsacheck promote` copies it along
  with the image, and oras-py pulls it at the destination byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from slsacheck.models import mediatypes as mt
from tests.integration.test_promote_helpers import Keys, keys, policy_file, sign_and_attest
from tests.support.cli import Cli, cli, registry_flags
from tests.support.env import missing
from tests.support.registry import PushedImage, RunningRegistry, push_small_image

oras_client: Any
oras_oci: Any
try:
    import oras.client as oras_client
    import oras.oci as oras_oci
except ImportError:
    oras_client = oras_oci = None


@pytest.fixture(autouse=True)
def _oras_installed() -> None:
    """Skipped on a developer machine without the test extra, a failure in CI."""
    if oras_client is None:
        missing("oras-py (pip install -e '.[test]')")

__all__ = ["cli", "keys"]

pytestmark = pytest.mark.integration

SBOM_TYPE = "application/spdx+json"
INDEX = "application/vnd.oci.image.index.v1+json"


def _oras(reg: RunningRegistry) -> Any:
    client = oras_client.OrasClient(hostname=reg.host, tls_verify=str(reg.ca_path), auth_backend="basic")
    client.auth.set_basic_auth(reg.username, reg.password)
    return client


def _get(client: Any, reg: RunningRegistry, path: str, accept: str) -> Any:
    return client.do_request(f"https://{reg.host}/v2/{path}", "GET", headers={"Accept": accept})


def _referrers(client: Any, reg: RunningRegistry, repo: str, digest: str) -> list[dict[str, Any]]:
    """The referrers of `digest` as an OCI client lists them: the API, else the tag schema."""
    api = _get(client, reg, f"{repo}/referrers/{digest}", INDEX)
    if api.status_code == 200:
        return list(api.json().get("manifests", []))
    fallback = _get(client, reg, f"{repo}/manifests/{digest.replace(':', '-')}", INDEX)
    return list(fallback.json().get("manifests", [])) if fallback.status_code == 200 else []


def _image(reg: RunningRegistry, repo: str) -> PushedImage:
    return push_small_image(reg.store(repo), "v1", seed=repo)


def test_oras_reads_what_slsacheck_attaches(keys: Keys, registry_auth: RunningRegistry, repo_name: str,
                                            tmp_path: Path) -> None:
    reg = registry_auth
    repo = f"{repo_name}/app"
    image = _image(reg, repo)
    digest = str(image.manifest.digest)
    sign_and_attest(reg.store(repo), reg.ref(repo, "v1"), keys.release)
    client = _oras(reg)

    referrers = _referrers(client, reg, repo, digest)
    bundles = [d for d in referrers if d.get("artifactType", "").startswith("application/vnd.dev.sigstore.bundle")]
    assert len(bundles) == 2, referrers  # the signature and the attestation
    for desc in bundles:
        manifest = client.get_manifest(f"{reg.host}/{repo}@{desc['digest']}", [mt.OCI_MANIFEST])
        assert manifest["subject"]["digest"] == digest
        layer = manifest["layers"][0]
        out = tmp_path / layer["digest"].replace(":", "-")
        client.download_blob(f"{reg.host}/{repo}", layer["digest"], str(out))
        data = out.read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == layer["digest"]
        assert json.loads(data)["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"

    sig = client.get_manifest(f"{reg.host}/{repo}:{digest.replace(':', '-')}.sig", [mt.OCI_MANIFEST])
    assert sig["layers"][0]["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    pulled = client.pull(target=f"{reg.host}/{repo}:{digest.replace(':', '-')}.sig", outdir=str(tmp_path / "sig"))
    payload = json.loads(Path(pulled[0]).read_bytes())
    assert payload["critical"]["image"]["docker-manifest-digest"] == digest


def _oras_attach(client: Any, reg: RunningRegistry, repo: str, image: PushedImage, sbom: Path, *,
                 artifact_type: str = SBOM_TYPE) -> str:
    """oras-py pushes an SBOM with the image as subject, then records it in the tag-schema
    index as oras-go does on a registry without the referrers API. Returns its digest."""
    subject = oras_oci.Subject(mediaType=mt.OCI_MANIFEST, digest=str(image.manifest.digest),
                               size=image.manifest.size)
    # oras-py 0.2 cannot set `artifactType`: as ORAS did before OCI 1.1, the artifact type is
    # the media type of a `{}` config.
    (sbom.parent / "config.json").write_text("{}")
    tag = f"attached-{hashlib.sha256(artifact_type.encode()).hexdigest()[:8]}"
    cwd = os.getcwd()
    os.chdir(sbom.parent)  # oras-py wants pushed files under the working directory
    try:
        response = client.push(target=f"{reg.host}/{repo}:{tag}", files=[f"{sbom.name}:{artifact_type}"],
                               subject=subject, manifest_config=f"config.json:{artifact_type}",
                               quiet=True)
    finally:
        os.chdir(cwd)
    sbom_digest = str(response.headers["Docker-Content-Digest"])
    manifest = client.get_manifest(f"{reg.host}/{repo}@{sbom_digest}", [mt.OCI_MANIFEST])
    raw = _get(client, reg, f"{repo}/manifests/{sbom_digest}", mt.OCI_MANIFEST).content
    fallback = str(image.manifest.digest).replace(":", "-")
    existing = _referrers(client, reg, repo, str(image.manifest.digest))
    index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [*existing, {
        "mediaType": mt.OCI_MANIFEST, "digest": sbom_digest, "size": len(raw),
        "artifactType": manifest["config"]["mediaType"]}]}
    put = client.do_request(f"https://{reg.host}/v2/{repo}/manifests/{fallback}", "PUT",
                            headers={"Content-Type": INDEX}, data=json.dumps(index).encode())
    assert put.status_code == 201, put.text
    return sbom_digest


def test_slsacheck_lists_and_promotes_what_oras_attaches(
    cli: Cli, keys: Keys, registry_auth: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_auth
    src, dst = f"{repo_name}/staging/app", f"{repo_name}/prod/app"
    image = _image(reg, src)
    sign_and_attest(reg.store(src), reg.ref(src, "v1"), keys.release)
    client = _oras(reg)
    sbom = tmp_path / "sbom.spdx.json"
    sbom.write_text(json.dumps({"spdxVersion": "SPDX-2.3", "name": "app"}))
    sbom_digest = _oras_attach(client, reg, src, image, sbom)
    notes = tmp_path / "notes.txt"
    notes.write_text("not evidence")
    notes_digest = _oras_attach(client, reg, src, image, notes, artifact_type="application/vnd.example.notes")

    flags = registry_flags(reg)
    inspect = cli("inspect", f"{reg.host}/{src}:v1", "--output", "json", *flags)
    assert inspect.code == 0, inspect.err
    assert sbom_digest in inspect.out and notes_digest in inspect.out

    policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/**"], keys.release_pub)
    run = cli("promote", f"{reg.host}/{src}:v1", f"{reg.host}/{dst}", "--policy", str(policy), *flags)
    assert run.code == 0, run.out + run.err

    carried = _referrers(client, reg, dst, str(image.manifest.digest))
    assert sbom_digest in {d["digest"] for d in carried}, carried
    # Not evidence: left behind, and said so.
    assert notes_digest not in {d["digest"] for d in carried}
    assert notes_digest[:19] in run.out + run.err or "application/vnd.example.notes" in run.out + run.err
    pulled = client.pull(target=f"{reg.host}/{dst}@{sbom_digest}", outdir=str(tmp_path / "pulled"))
    assert Path(pulled[0]).read_bytes() == sbom.read_bytes()


def test_oras_pulls_what_slsacheck_pushes(cli: Cli, registry_auth: RunningRegistry, repo_name: str) -> None:
    """`slsacheck copy` writes the manifest byte for byte: oras-py reads the same digest, and
    every blob it downloads hashes to its descriptor."""
    reg = registry_auth
    image = _image(reg, f"{repo_name}/src")
    run = cli("copy", f"{reg.host}/{repo_name}/src:v1", f"{reg.host}/{repo_name}/dst:v1", *registry_flags(reg))
    assert run.code == 0, run.err
    client = _oras(reg)
    raw = _get(client, reg, f"{repo_name}/dst/manifests/v1", mt.OCI_MANIFEST)
    assert raw.headers["Docker-Content-Digest"] == str(image.manifest.digest)
    assert "sha256:" + hashlib.sha256(raw.content).hexdigest() == str(image.manifest.digest)
    manifest = client.get_manifest(f"{reg.host}/{repo_name}/dst:v1", [mt.OCI_MANIFEST])
    for desc in (manifest["config"], *manifest["layers"]):
        blob = client.get_blob(f"{reg.host}/{repo_name}/dst", desc["digest"])
        assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == desc["digest"]
