"""`slsacheck provenance attest` (and `generate --predicate-only | attest --predicate -`)
through `main()`, on the real registry and on an OCI layout: the attestation verifies with
the public key, its statement is about the pushed digest, the git material is the commit;
an IMAGE the run did not build is refused, `--strict` with a warning writes nothing, and a
subject missing from the registry writes nothing either.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from slsacheck.attach import cosign_tags as ct
from slsacheck.errors import EXIT_INCOMPLETE, EXIT_USAGE, NotFound
from slsacheck.models import Digest, Platform
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from slsacheck.oci.store import Store
from tests.support.cli import Run, cli
from tests.support.keys import write_key_pairs
from tests.support.registry import RunningRegistry, push_scratch
from tests.support.sigstore_mock import MockSigstore, mock_sigstore

__all__ = ["cli", "mock_sigstore"]  # the fixtures, imported for pytest

pytestmark = pytest.mark.integration

SLSA1 = "https://slsa.dev/provenance/v1"
SLSA02 = "https://slsa.dev/provenance/v0.2"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
GIT_URL = "https://git.example.com/team/app"
STEP = "registry.example.com/tools/buildah@sha256:" + "c" * 64


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_key_pairs(tmp_path_factory.mktemp("keys"), "signer", "other")


def _taskrun(task: str, results: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {
            "name": f"pr-1-{task}",
            "uid": f"uid-{task}",
            "labels": {"tekton.dev/pipelineTask": task, "tekton.dev/pipelineRun": "pr-1"},
        },
        "spec": {"taskRef": {"name": task, "kind": "Task"}},
        "status": {
            "conditions": [{"type": "Succeeded", "status": "True"}],
            "startTime": "2026-03-01T10:00:00Z",
            "completionTime": "2026-03-01T10:01:00Z",
            "steps": [{"name": "run", "imageID": "docker-pullable://" + STEP}],
            "results": results,
            "taskSpec": {"steps": [{"name": "run", "image": "registry.example.com/tools/buildah"}]},
        },
    }


def write_run(directory: Path, image_url: str, image_digest: str, *, commit: str = COMMIT) -> list[str]:
    """A PipelineRun (git-clone, then build-push) and its TaskRuns; the `--run/--child` flags."""
    directory.mkdir(parents=True, exist_ok=True)
    tasks = [{"name": "git-clone", "taskRef": {"name": "git-clone"}},
             {"name": "build-push", "taskRef": {"name": "build-push"}, "runAfter": ["git-clone"]}]
    pipeline = {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": "pr-1", "uid": "uid-pr"},
        "spec": {"params": [{"name": "revision", "value": "main"}], "pipelineSpec": {"tasks": tasks}},
        "status": {
            "conditions": [{"type": "Succeeded", "status": "True"}],
            "startTime": "2026-03-01T10:00:00Z",
            "completionTime": "2026-03-01T10:03:00Z",
            "pipelineSpec": {"tasks": tasks},
            "results": [{"name": "CHAINS-GIT_URL", "value": GIT_URL}, {"name": "CHAINS-GIT_COMMIT", "value": commit}],
            "childReferences": [
                {"kind": "TaskRun", "name": "pr-1-git-clone", "pipelineTaskName": "git-clone"},
                {"kind": "TaskRun", "name": "pr-1-build-push", "pipelineTaskName": "build-push"},
            ],
        },
    }
    docs = {
        "pr.json": pipeline,
        "clone.json": _taskrun("git-clone", [{"name": "url", "value": GIT_URL}, {"name": "commit", "value": commit}]),
        "build.json": _taskrun(
            "build-push", [{"name": "IMAGE_URL", "value": image_url}, {"name": "IMAGE_DIGEST", "value": image_digest}]
        ),
    }
    for name, doc in docs.items():
        (directory / name).write_text(json.dumps(doc), encoding="utf-8")
    return ["--run", str(directory / "pr.json"), "--child", str(directory / "clone.json"),
            "--child", str(directory / "build.json")]


def attestation_statements(store: Store, digest: Digest) -> list[dict[str, Any]]:
    """The in-toto statements in the `.att` tag of `digest` (payloads decoded, not verified)."""
    manifest = store.fetch_manifest(ct.attestation_tag(digest))
    out = []
    for layer in manifest.layers:
        envelope = json.loads(store.fetch_blob(layer))
        out.append(json.loads(base64.b64decode(envelope["payload"])))
    return out


def has_attestation_tag(store: Store, digest: Digest) -> bool:
    try:
        store.resolve(ct.attestation_tag(digest))
    except NotFound:
        return False
    return True


def git_materials(statement: dict[str, Any]) -> list[dict[str, Any]]:
    deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    return [d for d in deps if d["uri"].startswith("git+")]


def _push(reg: RunningRegistry, repo: str, seed: str) -> Digest:
    return push_scratch(reg, repo, seed, seed).digest


# -- on the registry ----------------------------------------------------------------------


def test_attest_every_subject_on_the_registry(
    cli: Callable[..., Run], registry_http: RunningRegistry, repo_name: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    reg = registry_http
    digest = _push(reg, repo_name, "v1")
    name = f"{reg.host}/{repo_name}"
    flags = write_run(tmp_path / "run", f"{name}:v1", str(digest))

    run = cli("provenance", "attest", "--key", str(keys["signer"]), *flags)
    assert run.code == 0, run.err
    assert f"attested {SLSA1} on {name}@{digest}: {ct.attestation_tag(digest)} (1 new layer(s))" in run.out
    assert "bundle referrer sha256:" in run.out

    ok = cli("verify-attestation", "--key", str(keys["signer.pub"]), "--type", "slsaprovenance1", f"{name}:v1")
    assert ok.code == 0, ok.out
    other = cli("verify-attestation", "--key", str(keys["other.pub"]), "--type", "slsaprovenance1", f"{name}:v1")
    assert other.code == 1

    [statement] = attestation_statements(reg.store(repo_name), digest)
    assert statement["predicateType"] == SLSA1
    assert statement["subject"] == [{"name": name, "digest": {"sha256": digest.hex}}]
    # The source is pinned by the commit, not by the branch the run was given.
    assert git_materials(statement) == [
        {"name": "inputs/result", "uri": f"git+{GIT_URL}.git", "digest": {"sha1": COMMIT}}
    ]
    assert "main" not in json.dumps(git_materials(statement))
    assert statement["predicate"]["runDetails"]["metadata"]["invocationId"] == "uid-pr"


def test_attest_image_named_and_v02(
    cli: Callable[..., Run], registry_http: RunningRegistry, repo_name: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    reg = registry_http
    digest = _push(reg, repo_name, "v1")
    name = f"{reg.host}/{repo_name}"
    flags = write_run(tmp_path / "run", name, str(digest))
    run = cli("provenance", "attest", "--key", str(keys["signer"]), "--provenance-format", "slsa-v0.2",
              "--format", "legacy", *flags, f"{name}:v1")
    assert run.code == 0, run.err
    assert f"attested {SLSA02} on {name}@{digest}" in run.out and "bundle" not in run.out
    ok = cli("verify-attestation", "--key", str(keys["signer.pub"]), "--type", "slsaprovenance02", f"{name}@{digest}")
    assert ok.code == 0, ok.out
    [statement] = attestation_statements(reg.store(repo_name), digest)
    assert statement["subject"][0]["digest"] == {"sha256": digest.hex}
    materials = [m for m in statement["predicate"]["materials"] if m["uri"].startswith("git+")]
    assert materials == [{"uri": f"git+{GIT_URL}.git", "digest": {"sha1": COMMIT}}]


def test_an_image_the_run_did_not_build_is_refused(
    cli: Callable[..., Run], registry_http: RunningRegistry, repo_name: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    reg = registry_http
    built = _push(reg, repo_name, "v1")
    other = _push(reg, repo_name, "v2")
    name = f"{reg.host}/{repo_name}"
    flags = write_run(tmp_path / "run", name, str(built))

    run = cli("provenance", "attest", "--key", str(keys["signer"]), *flags, f"{name}:v2")
    assert run.code == EXIT_USAGE
    assert f"{name}:v2 is not a subject of this provenance" in run.err
    assert f"{name}@{built}" in run.err and f"found: {name}@{other}" in run.err
    # The same digest under another repository is another image too.
    elsewhere = f"{repo_name}-copy"
    assert _push(reg, elsewhere, "v1") == built
    run = cli("provenance", "attest", "--key", str(keys["signer"]), *flags, f"{reg.host}/{elsewhere}:v1")
    assert run.code == EXIT_USAGE and f"that digest is a subject under {name}" in run.err
    for repo, digest in ((repo_name, built), (repo_name, other), (elsewhere, built)):
        assert not has_attestation_tag(reg.store(repo), digest)


def test_strict_with_a_warning_writes_nothing(
    cli: Callable[..., Run], registry_http: RunningRegistry, repo_name: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    reg = registry_http
    digest = _push(reg, repo_name, "v1")
    name = f"{reg.host}/{repo_name}"
    flags = write_run(tmp_path / "run", name, str(digest), commit="main")  # a branch where a commit belongs

    strict = cli("provenance", "attest", "--key", str(keys["signer"]), "--strict", *flags)
    assert strict.code == EXIT_USAGE
    assert "refused in strict mode" in strict.err and "[git.commit]" in strict.err
    assert not has_attestation_tag(reg.store(repo_name), digest)

    lax = cli("provenance", "attest", "--key", str(keys["signer"]), *flags)
    assert lax.code == 0, lax.err
    assert "warning:" in lax.err and "[git.commit]" in lax.err
    [statement] = attestation_statements(reg.store(repo_name), digest)
    assert git_materials(statement) == [{"name": "inputs/result", "uri": f"git+{GIT_URL}.git"}]  # unpinned


def test_a_subject_missing_from_the_registry_writes_nothing(
    cli: Callable[..., Run], registry_http: RunningRegistry, repo_name: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    reg = registry_http
    present = _push(reg, repo_name, "v1")
    absent = scratch.image({"hello": b"never pushed"}).digest
    name = f"{reg.host}/{repo_name}"
    flags = write_run(tmp_path / "run", name, str(present))
    doc = json.loads((tmp_path / "run" / "build.json").read_text())
    doc["status"]["results"].append({"name": "IMAGES", "value": f"{reg.host}/{repo_name}-absent@{absent}"})
    (tmp_path / "run" / "build.json").write_text(json.dumps(doc))

    run = cli("provenance", "attest", "--key", str(keys["signer"]), *flags)
    assert run.code == EXIT_INCOMPLETE, run.err
    assert not has_attestation_tag(reg.store(repo_name), present)


# -- on a layout ----------------------------------------------------------------------------


def test_attest_a_layout_image(cli: Callable[..., Run], keys: dict[str, Path], tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    store = LayoutStore(layout, create=True)
    built = scratch.image({"hello": b"layout"})
    scratch.push(store, built, tag="v1")
    # The run names where the image went (a registry); the layout holds the same bytes.
    flags = write_run(tmp_path / "run", "registry.example.com/team/app:1.0", str(built.digest))

    run = cli("provenance", "attest", "--key", str(keys["signer"]), *flags, f"oci:{layout}:v1")
    assert run.code == 0, run.err
    assert f"on oci:{layout}@{built.digest}" in run.out
    ok = cli("verify-attestation", "--key", str(keys["signer.pub"]), "--type", "slsaprovenance1", f"oci:{layout}:v1")
    assert ok.code == 0, ok.out
    [statement] = attestation_statements(store, built.digest)
    assert statement["subject"] == [{"name": f"oci:{layout}", "digest": {"sha256": built.digest.hex}}]
    assert git_materials(statement)[0]["digest"] == {"sha1": COMMIT}

    other = scratch.image({"hello": b"another"})
    scratch.push(store, other, tag="v2")
    refused = cli("provenance", "attest", "--key", str(keys["signer"]), *flags, f"oci:{layout}:v2")
    assert refused.code == EXIT_USAGE and "is not a subject" in refused.err
    assert not has_attestation_tag(store, other.digest)


def test_generate_predicate_only_piped_into_attest(
    cli: Callable[..., Run], keys: dict[str, Path], tmp_path: Path
) -> None:
    layout = tmp_path / "layout"
    store = LayoutStore(layout, create=True)
    built = scratch.image({"hello": b"piped"})
    scratch.push(store, built, tag="v1")
    flags = write_run(tmp_path / "run", "registry.example.com/team/app", str(built.digest))

    generated = cli("provenance", "generate", "--predicate-only", *flags)
    assert generated.code == 0, generated.err
    predicate = json.loads(generated.out)
    assert "buildDefinition" in predicate and "subject" not in predicate

    run = cli("attest", "--key", str(keys["signer"]), "--type", "slsaprovenance1", "--predicate", "-",
              f"oci:{layout}:v1", stdin=generated.out.encode())
    assert run.code == 0, run.err
    ok = cli("verify-attestation", "--key", str(keys["signer.pub"]), "--type", "slsaprovenance1", f"oci:{layout}:v1")
    assert ok.code == 0, ok.out
    [statement] = attestation_statements(store, built.digest)
    assert statement["predicateType"] == SLSA1 and statement["predicate"] == predicate
    assert statement["subject"][0]["digest"] == {"sha256": built.digest.hex}


def test_platform_subjects_and_a_file_subject(
    cli: Callable[..., Run], registry_http: RunningRegistry, repo_name: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    reg = registry_http
    index = scratch.index([scratch.image({"f": arch.encode()}, platform=Platform("linux", arch))
                           for arch in ("amd64", "arm64")])
    scratch.push(reg.store(repo_name), index, tag="multi")
    name = f"{reg.host}/{repo_name}"
    flags = write_run(tmp_path / "run", name, str(index.digest))
    doc = json.loads((tmp_path / "run" / "build.json").read_text())
    tarball = {"uri": "https://files.example.com/app.tar.gz", "digest": "sha256:" + "d" * 64, "isBuildArtifact": "true"}
    doc["status"]["results"].append({"name": "tar-ARTIFACT_OUTPUTS", "type": "object", "value": tarball})
    (tmp_path / "run" / "build.json").write_text(json.dumps(doc))
    platforms = [child.digest for child in index.children]

    # A subject that is not an image is a warning; under --strict it stops everything.
    strict = cli("provenance", "attest", "--key", str(keys["signer"]), "--strict", "--platform-subjects", *flags)
    assert strict.code == EXIT_USAGE and "https://files.example.com/app.tar.gz" in strict.err
    assert "not an image in a registry" in strict.err
    assert not any(has_attestation_tag(reg.store(repo_name), d) for d in (index.digest, *platforms))

    run = cli("provenance", "attest", "--key", str(keys["signer"]), "--platform-subjects", *flags)
    assert run.code == 0, run.err
    assert "warning: subject https://files.example.com/app.tar.gz" in run.err
    for digest in (index.digest, *platforms):
        assert f"on {name}@{digest}" in run.out
        [statement] = attestation_statements(reg.store(repo_name), digest)
        assert statement["subject"] == [{"name": name, "digest": {"sha256": digest.hex}}]
        ok = cli("verify-attestation", "--key", str(keys["signer.pub"]), "--type", SLSA1, f"{name}@{digest}")
        assert ok.code == 0, ok.out


def test_in_step_mode(
    cli: Callable[..., Run], registry_http: RunningRegistry, repo_name: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    reg = registry_http
    digest = _push(reg, repo_name, "v1")
    name = f"{reg.host}/{repo_name}"
    results = tmp_path / "results"
    results.mkdir()
    (results / "IMAGE_URL").write_text(f"{name}:v1\n")
    (results / "IMAGE_DIGEST").write_text(f"{digest}\n")
    run = cli("provenance", "attest", "--key", str(keys["signer"]), "--result-dir", str(results),
              "--param", f"CHAINS-GIT_URL={GIT_URL}", "--param", f"CHAINS-GIT_COMMIT={COMMIT}",
              "--taskrun-name", "build-1", "--taskrun-uid", "uid-1", f"{name}:v1")
    assert run.code == 0, run.err
    [statement] = attestation_statements(reg.store(repo_name), digest)
    assert statement["subject"][0]["digest"] == {"sha256": digest.hex}
    assert [d["digest"] for d in git_materials(statement)] == [{"sha1": COMMIT}]
    assert statement["predicate"]["runDetails"]["metadata"]["invocationId"] == "uid-1"
    both = cli("provenance", "attest", "--key", str(keys["signer"]), "--run", str(tmp_path / "x.json"),
               "--result-dir", str(results))
    assert both.code == EXIT_USAGE and "--result-dir is for the in-step mode" in both.err


def test_in_step_never_publishes_a_planted_link(
    *,
    cli: Callable[..., Run],
    registry_http: RunningRegistry,
    repo_name: str,
    keys: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An earlier step plants links to the attesting step's secrets: refused, nothing pushed."""
    reg = registry_http
    digest = _push(reg, repo_name, "planted")
    name = f"{reg.host}/{repo_name}"
    secret = tmp_path / "cosign.password"
    secret.write_text("hunter2-secret")
    secret.chmod(0o600)
    monkeypatch.setenv("COSIGN_PASSWORD", "hunter2-secret")  # what /proc/self/environ would leak
    for target in (secret, Path("/proc/self/environ")):
        results = tmp_path / f"results-{target.name}"
        results.mkdir()
        (results / "IMAGE_URL").write_text(name)
        (results / "IMAGE_DIGEST").write_text(str(digest))
        (results / "notes").symlink_to(target)
        run = cli("provenance", "attest", "--strict", "--key", str(keys["signer"]), "--result-dir", str(results),
                  f"{name}@{digest}")
        assert run.code == EXIT_USAGE, run.err
        assert f"{results / 'notes'} is a symbolic link" in run.err
        assert "hunter2" not in run.out + run.err
        assert not has_attestation_tag(reg.store(repo_name), digest)


def test_keyless_on_a_layout(
    cli: Callable[..., Run], mock_sigstore: MockSigstore, keys: dict[str, Path], tmp_path: Path
) -> None:
    subject = "https://kubernetes.io/namespaces/ci/serviceaccounts/builder"
    token = tmp_path / "token"
    token.write_text(mock_sigstore.token(subject))
    layout = tmp_path / "layout"
    built = scratch.image({"hello": b"keyless"})
    scratch.push(LayoutStore(layout, create=True), built, tag="v1")
    flags = write_run(tmp_path / "run", "registry.example.com/team/app", str(built.digest))
    run = cli("provenance", "attest", "--keyless", "--identity-token", str(token),
              "--trust-config", str(mock_sigstore.trust_config), *flags, f"oci:{layout}:v1")
    assert run.code == 0, run.err
    identity = ["--certificate-oidc-issuer-regexp", ".*", "--trusted-root", str(mock_sigstore.trusted_root)]
    ok = cli("verify-attestation", "--certificate-identity", subject, *identity, "--type", "slsaprovenance1",
             f"oci:{layout}:v1")
    assert ok.code == 0, ok.out
    other = cli("verify-attestation", "--certificate-identity", subject + "-not", *identity,
                "--type", "slsaprovenance1", f"oci:{layout}:v1")
    assert other.code == 1
    missing = cli("provenance", "attest", "--keyless", *flags, f"oci:{layout}:v1")
    assert missing.code == EXIT_USAGE and "found no identity token" in missing.err
