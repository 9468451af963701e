"""Every command line the documentation shows runs, in order, and exits as documented.

The ```sh blocks of README.md, policies/README.md, tekton/README.md, tekton/image/README.md
and deploy/README.md are read at test time (tests/support/docs.py), so an edit to a document is tested as
written. Each document runs in a world of its own: a directory holding copies of
policies/, tekton/ and deploy/ with the example registry `registry.example.com` replaced
by a Distribution registry on loopback, plus the inputs the document takes for granted
(`PREPARED`: an image already pushed, the run objects `kubectl get -o json` exported, a
Sigstore bundle to check, a serving certificate). `slsacheck` is this checkout, run as a
user runs it (a shell, with its redirections, in the world directory).

Each command is matched by exactly one rule below:
- RUN: executed; it must exit 0;
- EMULATED: what the command does on this machine, done another way, said in the rule
  (a ConfigMap's mounted content is a flat directory of its keys);
- SKIPPED_BY_DESIGN: cannot run here (no cluster, no cloud account, no network for a base
  image, or it would start this test suite again), with the reason, and checked otherwise:
  what it names (files, manifests, secrets, labels) must exist and agree.
A command no rule knows fails the test: a new kind of command in the docs needs a rule.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from slsacheck.cli.demo_inputs import GIT_URL, IMAGE_NAME, pipeline_run
from tests.support.certs import issue, make_ca
from tests.support.docs import DocCommand, copy_tree, kubectl_from_files, shell_commands
from tests.support.env import ROOT, shared_dir
from tests.support.keys import write_key_pairs
from tests.support.processes import stop
from tests.support.registry import RunningRegistry, free_port, push_scratch, start_registry

pytestmark = pytest.mark.integration

DOCS = ("README.md", "policies/README.md", "tekton/README.md", "tekton/image/README.md", "deploy/README.md")
EXAMPLE_HOST = "registry.example.com"
PASSWORD = "doc-test-password"  # the key password: the documents read $COSIGN_PASSWORD
SOURCE = "https://github.com/example-org/app"  # matches the shipped policies' source placeholder
CONFORMANCE_CASE = "happy-path-v0.3"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with start_registry(tmp_path_factory.mktemp("docs-registry"), "http") as running:
        yield running


@dataclass
class World:
    """One document's directory, registry and the placeholders filled in for it."""

    doc: str
    root: Path
    registry: RunningRegistry
    placeholders: dict[str, str] = field(default_factory=dict)
    created: dict[str, str] = field(default_factory=dict)  # Kubernetes object name -> kind, made by the doc
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "PATH": f"{self.root / '.bin'}:/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "HOME": str(self.root),
            "DOCKER_CONFIG": str(self.root / ".docker"),
            "COSIGN_PASSWORD": PASSWORD,
        })
        env.pop("REGISTRY_AUTH_FILE", None)
        return env

    def text(self, command: DocCommand) -> str:
        """The command with the example host and the document's placeholders filled in."""
        text = command.text.replace(EXAMPLE_HOST, self.registry.host)
        for word, value in self.placeholders.items():
            text = re.sub(rf"(?<!\S){re.escape(word)}(?!\S)", shlex.quote(value), text)
        return text

    def shell(self, command: DocCommand) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["/bin/bash", "-euo", "pipefail", "-c", self.text(command)], cwd=self.root,
                              env=self.env, capture_output=True, text=True, timeout=180, check=False)


# -- the worlds: what each document takes for granted ---------------------------------------


def _make_world(doc: str, root: Path, registry: RunningRegistry) -> World:
    root.mkdir(parents=True)
    for name in ("policies", "tekton", "deploy"):
        copy_tree(ROOT / name, root / name, {EXAMPLE_HOST: registry.host})
    (root / ".bin").mkdir()
    wrapper = root / ".bin" / "slsacheck"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m slsacheck "$@"\n')
    wrapper.chmod(0o755)
    (root / ".docker").mkdir()
    (root / ".docker" / "config.json").write_text('{"auths": {}}')
    world = World(doc, root, registry)
    PREPARED[doc](world)
    return world


def _conformance_case() -> dict[str, Any]:
    base = shared_dir() / "conformance"
    cases = json.loads((base / "cases.json").read_text())["cases"]
    return next(c for c in cases if c["name"] == CONFORMANCE_CASE)


def _prepare_readme(world: World) -> None:
    """An image the pipeline pushed, its exported run objects, a bundle to check, a serving certificate."""
    built = push_scratch(world.registry, "acme/app", "1.2", f"docs-{world.root.name}")
    image = f"{world.registry.host}/acme/app"
    for name, doc in pipeline_run(str(built.digest), datetime.now(UTC)).items():
        text = json.dumps(doc, indent=2).replace(GIT_URL, SOURCE).replace(IMAGE_NAME + ":latest", image + ":1.2")
        (world.root / name).write_text(text)
    base = shared_dir() / "conformance"
    case = _conformance_case()
    shutil.copy(base / case["dir"] / "bundle.sigstore.json", world.root / "artifact.sigstore.json")
    shutil.copy(base / case["artifact"], world.root / "artifact")
    shutil.copy(base / "_offline_extras" / "production_trusted_root.json", world.root / "trusted_root.json")
    world.placeholders.update({"ID": case["verify_with"]["certificate_identity"],
                               "URL": case["verify_with"]["certificate_oidc_issuer"]})
    _prepare_release_file(world.root)
    ca = make_ca(world.root / ".tls")
    served = issue(ca, world.root / ".tls", "webhook")
    shutil.copy(served.cert_path, world.root / "tls.crt")
    shutil.copy(served.key_path, world.root / "tls.key")
    world.placeholders["CA"] = str(ca.cert_path)


def _prepare_release_file(root: Path) -> None:
    """A release archive and the exported TaskRun that built it (its *ARTIFACT_OUTPUTS result)."""
    archive = b"app 1.2 release archive\n"
    (root / "app-1.2.tgz").write_bytes(archive)
    output = {"uri": "https://downloads.example-org.dev/app-1.2.tgz",
              "digest": "sha256:" + hashlib.sha256(archive).hexdigest(), "isBuildArtifact": "true"}
    step = "docker-pullable://registry.example.com/tools/packager@sha256:" + "c" * 64
    run = {
        "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
        "metadata": {"name": "package-1", "uid": "uid-package-1"},
        "spec": {"params": [{"name": "CHAINS-GIT_URL", "value": SOURCE},
                            {"name": "CHAINS-GIT_COMMIT", "value": "0123456789abcdef0123456789abcdef01234567"}],
                 "taskRef": {"name": "package", "kind": "Task"}},
        "status": {"conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
                   "startTime": "2026-03-01T10:00:00Z", "completionTime": "2026-03-01T10:02:00Z",
                   "steps": [{"name": "package", "imageID": step}],
                   "results": [{"name": "archive-ARTIFACT_OUTPUTS", "value": output}],
                   "taskSpec": {"steps": [{"name": "package", "image": "registry.example.com/tools/packager",
                                           "script": "tar czf app-1.2.tgz ."}]}},
    }
    (root / "taskrun-package.json").write_text(json.dumps(run, indent=2))


def _prepare_keys_and_root(world: World) -> None:
    """A key pair as `slsacheck generate-key-pair` writes it, and a Sigstore trusted root."""
    keys = write_key_pairs(world.root, "cosign", password=PASSWORD.encode())
    assert {keys["cosign"].name, keys["cosign.pub"].name} == {"cosign.key", "cosign.pub"}
    shutil.copy(shared_dir() / "conformance" / "_offline_extras" / "production_trusted_root.json",
                world.root / "trusted_root.json")


def _prepare_tekton(world: World) -> None:
    """A docker config.json with the registry's credentials (the Secret's content)."""
    (world.root / "config.json").write_text(json.dumps({"auths": {world.registry.host: {"auth": "dXNlcjp0b2tlbg=="}}}))


PREPARED: dict[str, Callable[[World], None]] = {
    "README.md": _prepare_readme,
    "policies/README.md": _prepare_keys_and_root,
    "tekton/README.md": _prepare_tekton,
    "tekton/image/README.md": lambda _: None,  # pin.sh and the emulated push need only the registry
    "deploy/README.md": _prepare_keys_and_root,
}


# -- RUN ---------------------------------------------------------------------------------


def _run(world: World, command: DocCommand) -> None:
    proc = world.shell(command)
    assert proc.returncode == 0, (
        f"{command.where()}\nexit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def _serve(world: World, command: DocCommand) -> None:
    """`slsacheck serve` runs until stopped: started on a free loopback port, it must answer /healthz over TLS."""
    port = free_port()
    argv = shlex.split(world.text(command), comments=True)
    text = shlex.join([*argv, "--host", "127.0.0.1", "--port", str(port), "--ready-registry", "none"])
    log = (world.root / "serve.log").open("wb")
    process = subprocess.Popen(["/bin/bash", "-c", f"exec {text}"], cwd=world.root, env=world.env,
                               stdout=log, stderr=subprocess.STDOUT)
    world.servers.append(process)
    context = ssl.create_default_context(cafile=world.placeholders["CA"])
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, f"{command.where()}: exited {process.returncode}\n" + (
            world.root / "serve.log").read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=context, timeout=2) as answer:
                assert answer.status == 200
                return
        except OSError:
            assert time.monotonic() < deadline, f"{command.where()}: /healthz never answered"
            time.sleep(0.2)


def _demo(world: World, command: DocCommand) -> None:
    """./dev/demo installs slsacheck into .venv (what ./dev/test does too) and runs `slsacheck demo`: run that."""
    script = (ROOT / "dev" / "demo").read_text()
    assert 'slsacheck" demo' in script, "dev/demo no longer runs `slsacheck demo`: update this rule"
    proc = subprocess.run([sys.executable, "-m", "slsacheck", "demo", "--dir", str(world.root / "demo")],
                          cwd=world.root, env=world.env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"{command.where()}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


# -- EMULATED ----------------------------------------------------------------------------


def _kubectl_args(argv: list[str]) -> list[str]:
    """argv without `kubectl` and its `-n NS` / `--namespace=NS`."""
    out, skip = [], False
    for arg in argv[1:]:
        if skip:
            skip = False
        elif arg in ("-n", "--namespace"):
            skip = True
        elif not arg.startswith("--namespace="):
            out.append(arg)
    return out


def _from_files(world: World, command: DocCommand) -> None:
    """kubectl create configmap|secret generic NAME --from-file/--from-literal: the keys, as a flat directory,
    which is what a pod sees where the object is mounted."""
    args = _kubectl_args(shlex.split(world.text(command), comments=True))
    name = args[2] if args[1] == "configmap" else args[3]
    env = world.env
    expanded = [re.sub(r"\$\{?(\w+)\}?", lambda m: env[m.group(1)], a) if a.startswith("--from-literal=") else a
                for a in args]
    flat = world.root / ".k8s" / name
    written = kubectl_from_files(expanded, world.root, flat)
    assert written, f"{command.where()}: no keys"
    world.created[name] = "ConfigMap" if args[1] == "configmap" else "Secret"
    policies = sorted(p for p in flat.iterdir() if p.suffix in (".yaml", ".yml"))
    if policies:
        # The gate loads every policy of the mounted directory: they must load flat, keys beside them.
        lint = subprocess.run([sys.executable, "-m", "slsacheck", "policy", "lint", *map(str, policies)],
                              cwd=world.root, env=world.env, capture_output=True, text=True, timeout=60, check=False)
        assert lint.returncode == 0, f"{command.where()}: the ConfigMap's policies do not load flat\n{lint.stdout}"


def _buildah_push(world: World, command: DocCommand) -> None:
    """buildah push --digestfile FILE REF: the image built by the skipped `buildah build` cannot exist here;
    an image is pushed to REF's repository and FILE gets its digest, as buildah writes it."""
    argv = shlex.split(world.text(command), comments=True)
    digest_file = argv[argv.index("--digestfile") + 1]
    ref = argv[-1]
    repo, _, tag = ref.removeprefix(world.registry.host + "/").partition(":")
    built = push_scratch(world.registry, repo, tag or "latest", f"step-image-{world.root.name}")
    (world.root / digest_file).write_text(str(built.digest))


# -- SKIPPED_BY_DESIGN: what each names must exist and agree ----------------------------------


def _yaml_docs(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    for d in docs:
        assert {"apiVersion", "kind", "metadata"} <= set(d), f"{path}: not a Kubernetes object"
    return docs


def _kubectl_apply(world: World, command: DocCommand) -> None:
    args = _kubectl_args(shlex.split(world.text(command), comments=True))
    if "-k" in args:
        base = world.root / args[args.index("-k") + 1]
        kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
        for resource in kustomization["resources"]:
            assert _yaml_docs(base / resource), resource
        for generator in kustomization.get("configMapGenerator", []):
            files = [base / f for f in generator["files"]]
            assert all(f.is_file() for f in files), files
            yamls = [str(f) for f in files if f.suffix in (".yaml", ".yml")]
            lint = subprocess.run([sys.executable, "-m", "slsacheck", "policy", "lint", *yamls], cwd=world.root,
                                  env=world.env, capture_output=True, text=True, timeout=60, check=False)
            assert lint.returncode == 0, lint.stdout
        return
    target = world.root / args[args.index("-f") + 1]
    paths = sorted(target.glob("*.yaml")) if target.is_dir() else [target]
    assert paths, f"{command.where()}: nothing to apply"
    for path in paths:
        for d in _yaml_docs(path):
            assert d["apiVersion"].startswith("tekton.dev/"), f"{path}: {d['apiVersion']}"


def _kubectl_create_file(world: World, command: DocCommand) -> None:
    """kubectl create -f RUN: a PipelineRun of a shipped Pipeline, binding only objects the document creates."""
    args = _kubectl_args(shlex.split(world.text(command), comments=True))
    (run,) = _yaml_docs(world.root / args[args.index("-f") + 1])
    assert run["kind"] == "PipelineRun"
    pipelines = {d["metadata"]["name"] for p in (world.root / "tekton" / "pipelines").glob("*.yaml")
                 for d in _yaml_docs(p)}
    assert run["spec"]["pipelineRef"]["name"] in pipelines
    bound = {}
    for ws in run["spec"]["workspaces"]:
        if "secret" in ws:
            bound[ws["secret"]["secretName"]] = "Secret"
        if "configMap" in ws:
            bound[ws["configMap"]["name"]] = "ConfigMap"
    commands = [world.text(c) for c in shell_commands(ROOT / world.doc)]
    for name, kind in bound.items():
        creates = "configmap" if kind == "ConfigMap" else "secret"
        optional = any(ws.get("secret", {}).get("secretName") == name and ws["secret"].get("optional")
                       for ws in run["spec"]["workspaces"])
        assert optional or any(f"create {creates}" in c and f" {name} " in f"{c} " for c in commands), (
            f"{command.where()}: the run binds {kind} {name}, which no command of {world.doc} creates")


def _kubectl_create_other(world: World, command: DocCommand) -> None:
    """kubectl create namespace / secret docker-registry: the names must be the ones the manifests use."""
    argv = shlex.split(world.text(command), comments=True)
    args = _kubectl_args(argv)
    manifests = "\n".join(p.read_text() for p in sorted((world.root / "deploy").glob("*.yaml")))
    manifests += "\n".join(p.read_text() for p in sorted((world.root / "tekton" / "runs").glob("*.yaml")))
    if args[1] == "namespace":
        assert f"name: {args[2]}" in (world.root / "deploy" / "namespace.yaml").read_text()
        return
    assert args[1:3] == ["secret", "docker-registry"], command.where()
    assert re.search(rf"secretName: {re.escape(args[3])}\b", manifests), f"{command.where()}: no manifest mounts it"
    if "-n" in argv:
        namespace = argv[argv.index("-n") + 1]
        assert f"namespace: {namespace}" in (world.root / "deploy" / "kustomization.yaml").read_text()


def _kubectl_label(world: World, command: DocCommand) -> None:
    """kubectl label namespace NS KEY=VALUE: the label the webhook configurations select namespaces by."""
    args = _kubectl_args(shlex.split(world.text(command), comments=True))
    key, _, value = args[3].partition("=")
    for webhook_doc in _yaml_docs(world.root / "deploy" / "webhooks.yaml"):
        for hook in webhook_doc["webhooks"]:
            wanted = {"key": key, "operator": "In", "values": [value]}
            assert wanted in hook["namespaceSelector"]["matchExpressions"], hook["name"]


def _buildah_build(world: World, command: DocCommand) -> None:
    """The Containerfile's base image is pinned on docker.io, which this machine cannot reach; the file and
    every --build-arg it is given must exist (tests/tekton/test_structure.py checks the rest)."""
    argv = shlex.split(world.text(command), comments=True)
    containerfile = ROOT / argv[argv.index("-f") + 1]
    text = containerfile.read_text()
    for i, arg in enumerate(argv):
        if arg == "--build-arg":
            name = argv[i + 1].split("=", 1)[0]
            assert re.search(rf"^ARG {name}\b", text, re.M), f"{command.where()}: no ARG {name}"


def _other_builder(world: World, command: DocCommand) -> None:
    """docker build / kaniko: the same Containerfile (docker push: the same reference docker built)."""
    argv = shlex.split(world.text(command), comments=True)
    option = next((a for a in argv if a.startswith("--dockerfile=")), None)
    if option is not None:
        assert (ROOT / option.removeprefix("--dockerfile=")).is_file(), command.where()
    elif "-f" in argv:
        assert (ROOT / argv[argv.index("-f") + 1]).is_file(), command.where()
    else:
        assert argv[:2] == ["docker", "push"], command.where()


def _skopeo_inspect(world: World, command: DocCommand) -> None:
    """Re-resolving a third-party image's digest: the image (name:tag) must be one the files pin by digest."""
    name = shlex.split(command.text, comments=True)[-1].removeprefix("docker://")
    files = [p for p in (ROOT / "tekton").rglob("*") if p.is_file() and p.suffix != ".md"]
    assert any(f"{name}@sha256:" in p.read_text(errors="replace") for p in files), (
        f"{command.where()}: no file in tekton/ pins {name} by digest")


def _editor(world: World, command: DocCommand) -> None:
    """$EDITOR FILE is the user's edit: FILE must exist (the next command checks it)."""
    assert (world.root / shlex.split(command.text, comments=True)[1]).is_file(), command.where()


def _dev_test(world: World, command: DocCommand) -> None:
    """./dev/test runs this test suite: it must exist and run pytest, ruff and mypy."""
    script = ROOT / "dev" / "test"
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert all(tool in text for tool in ("pytest", "ruff", "mypy")), "dev/test no longer runs the linters and tests"


def _install(world: World, command: DocCommand) -> None:
    """Installing into the user's home is what .ci/run does in a fresh virtualenv on every CI run:
    it must build the wheel, install it there and run `--version` and the demo from it."""
    text = (ROOT / ".ci" / "run").read_text()
    for step in ("-m venv", "pip wheel", "pip install", "slsacheck\" --version", "slsacheck\" demo"):
        assert step in text, f".ci/run no longer does {step!r}, which {command.where()} relies on"
    assert text.rstrip().endswith("exec ./dev/test"), ".ci/run must still end by running ./dev/test"


def _cloud_cli(world: World, command: DocCommand) -> None:
    """A cloud provider's CLI (an account is needed): nothing of slsacheck's to check."""


@dataclass(frozen=True)
class Rule:
    prefix: tuple[str, ...]  # the command's first words
    how: str  # RUN, EMULATED or SKIPPED_BY_DESIGN
    why: str
    handle: Callable[[World, DocCommand], None]


RULES: tuple[Rule, ...] = (
    Rule(("slsacheck", "serve"), "RUN", "runs until stopped: started, /healthz must answer, then stopped", _serve),
    Rule(("slsacheck",), "RUN", "", _run),
    Rule(("cp",), "RUN", "", _run),
    Rule(("mkdir",), "RUN", "", _run),
    Rule(("tekton/image/pin.sh",), "RUN", "", _run),
    Rule(("./dev/demo",), "EMULATED", "the venv install is ./dev/test's; the demo it then runs is run", _demo),
    Rule(("kubectl", "create", "configmap"), "EMULATED", "no cluster: the mounted keys as a flat directory",
         _from_files),
    Rule(("kubectl", "create", "secret", "generic"), "EMULATED", "no cluster: the mounted keys as a flat directory",
         _from_files),
    Rule(("buildah", "push"), "EMULATED", "the image of the skipped build cannot exist: another is pushed",
         _buildah_push),
    Rule(("kubectl", "apply"), "SKIPPED_BY_DESIGN", "no Kubernetes API server here: the manifests are parsed",
         _kubectl_apply),
    Rule(("kubectl", "create", "-f"), "SKIPPED_BY_DESIGN", "no Kubernetes API server here: the run is checked "
         "against the Pipeline and the objects the document creates", _kubectl_create_file),
    Rule(("kubectl", "create", "namespace"), "SKIPPED_BY_DESIGN", "no Kubernetes API server here: the name is "
         "the manifests'", _kubectl_create_other),
    Rule(("kubectl", "create", "secret", "docker-registry"), "SKIPPED_BY_DESIGN", "no Kubernetes API server and "
         "no cloud registry here: a manifest must mount the Secret", _kubectl_create_other),
    Rule(("kubectl", "label"), "SKIPPED_BY_DESIGN", "no Kubernetes API server here: the label must be the one "
         "the webhooks select", _kubectl_label),
    Rule(("buildah", "build"), "SKIPPED_BY_DESIGN", "the base image is on docker.io, unreachable here",
         _buildah_build),
    Rule(("docker",), "SKIPPED_BY_DESIGN", "no Docker engine on this machine", _other_builder),
    Rule(("/kaniko/executor",), "SKIPPED_BY_DESIGN", "runs inside kaniko's own image", _other_builder),
    Rule(("skopeo", "inspect"), "SKIPPED_BY_DESIGN", "it asks public registries, unreachable here: the image "
         "must be one the files pin", _skopeo_inspect),
    Rule(("$EDITOR",), "SKIPPED_BY_DESIGN", "interactive: the user's edit", _editor),
    Rule(("./dev/test",), "SKIPPED_BY_DESIGN", "it runs this test suite", _dev_test),
    Rule(("az",), "SKIPPED_BY_DESIGN", "a cloud account is needed", _cloud_cli),
    Rule(("python3", "-m", "venv"), "SKIPPED_BY_DESIGN", "an install into the user's home: .ci/run does it",
         _install),
    Rule(("python3", "-m", "pip", "wheel"), "SKIPPED_BY_DESIGN", "an install: .ci/run does it", _install),
    Rule(("~/.local/slsacheck/bin/pip",), "SKIPPED_BY_DESIGN", "an install: .ci/run does it", _install),
    Rule(("~/.local/slsacheck/bin/slsacheck",), "SKIPPED_BY_DESIGN", "the installed command: .ci/run runs it",
         _install),
    Rule(("pipx",), "SKIPPED_BY_DESIGN", "an install into the user's home: .ci/run does the same with a venv",
         _install),
)


def rule_for(command: DocCommand) -> Rule:
    words = [w for w in command.argv if w not in ("-n",)]
    if words and words[0] == "kubectl" and "-n" in command.argv:
        words = ["kubectl", *_kubectl_args(command.argv)]
    for rule in RULES:
        if tuple(words[: len(rule.prefix)]) == rule.prefix:
            return rule
    raise AssertionError(f"{command.where()}: no rule runs or checks this command; add one to {__name__}.RULES")


# -- the tests ---------------------------------------------------------------------------


def test_every_documented_command_has_a_rule() -> None:
    for doc in DOCS:
        commands = shell_commands(ROOT / doc)
        assert commands, f"{doc} shows no command line (```sh block)"
        for command in commands:
            rule_for(command)


def test_reading_the_blocks(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "```sh\n# a comment\nslsacheck a \\\n    --b c   # trailing\n\nkubectl get x\n```\n"
        "```yaml\nkey: value\n```\n\n```bash\nbuildah push --digestfile d r\n```\n`slsacheck inline` is prose\n")
    commands = shell_commands(doc)
    assert [(c.line, c.text) for c in commands] == [
        (3, "slsacheck a --b c   # trailing"), (6, "kubectl get x"), (13, "buildah push --digestfile d r")]
    assert commands[0].argv == ["slsacheck", "a", "--b", "c"]


def test_a_command_no_rule_knows_fails() -> None:
    for text in ("curl https://example.com", "kubectl delete pod x", "helm install slsacheck ."):
        with pytest.raises(AssertionError, match="no rule runs or checks this command"):
            rule_for(DocCommand(Path("README.md"), 1, text))


def test_the_configmap_emulation_is_flat_like_kubectl(tmp_path: Path) -> None:
    (tmp_path / "policies" / "keys").mkdir(parents=True)
    (tmp_path / "policies" / "a.yaml").write_text("a")
    (tmp_path / "policies" / "keys" / "k.pub").write_text("nested: not taken")
    (tmp_path / "cosign.pub").write_text("k")
    argv = ["kubectl", "create", "configmap", "x", "--from-file=policies/", "--from-file=cosign.pub",
            "--from-file=renamed.pub=cosign.pub", "--from-literal=n=v"]
    written = kubectl_from_files(argv, tmp_path, tmp_path / "flat")
    assert sorted(written) == ["a.yaml", "cosign.pub", "n", "renamed.pub"]
    assert sorted(p.name for p in (tmp_path / "flat").iterdir()) == sorted(written)
    with pytest.raises(ValueError, match="given twice"):
        kubectl_from_files([*argv, "--from-file=cosign.pub"], tmp_path, tmp_path / "again")


@pytest.mark.parametrize("doc", DOCS)
def test_documented_commands_run_in_order(doc: str, registry: RunningRegistry, tmp_path: Path) -> None:
    world = _make_world(doc, tmp_path / doc.replace("/", "_"), registry)
    try:
        for command in shell_commands(ROOT / doc):
            rule_for(command).handle(world, command)
    finally:
        for server in world.servers:
            stop(server, grace=5)
