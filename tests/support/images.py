"""Real images from real tools: buildah builds them, skopeo copies them.

buildah runs in private storage (`--storage-driver vfs` under a temporary
root, `--isolation chroot`, `FROM scratch` + one file), and pushes into OCI layouts:
`build_image` (one image), `build_index` (a multi-platform index: `buildah manifest
create/add` over images whose os/arch are set with `buildah config`, pushed with
`buildah manifest push --all`). A permissive signature policy is passed explicitly, so
the tools do not depend on the machine's /etc/containers/policy.json.

buildah is slow (seconds per image), so `buildah_images` builds one image and one index
per test session and hands out their layouts; tests copy them before changing them.
Test modules import the fixture: `from tests.support.images import buildah_images`.
`cosign_saved_layout` lays out slsa-verifier's `cosign save` layout from the shared anchors.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.env import require_tool, shared_file

_POLICY = {"default": [{"type": "insecureAcceptAnything"}]}
_TIMEOUT = 180


def _policy(workdir: Path) -> Path:
    path = workdir / "policy.json"
    if not path.exists():
        path.write_text(json.dumps(_POLICY))
    return path


def _run(argv: Sequence[str], what: str) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=_TIMEOUT, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{what} failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr[-3000:]}")
    return proc.stdout


class Buildah:
    """buildah with private vfs storage under `workdir`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.binary = require_tool("buildah")
        self.policy = _policy(workdir)
        self.base = [
            self.binary,
            "--storage-driver", "vfs",
            "--root", str(workdir / "root"),
            "--runroot", str(workdir / "runroot"),
        ]

    def __call__(self, *args: str) -> str:
        return _run([*self.base, *args], "buildah").strip()

    def image(self, name: str, content: bytes, *, path: str = "/hello.txt",
              os_name: str | None = None, arch: str | None = None) -> str:
        """Commit a FROM-scratch image holding `content` at `path`; returns its local name."""
        context = self.workdir / f"context-{name}"
        context.mkdir(parents=True, exist_ok=True)
        (context / "file").write_bytes(content)
        container = self("from", "--isolation", "chroot", "--signature-policy", str(self.policy), "scratch")
        try:
            self("copy", container, str(context / "file"), path)
            overrides = [*(["--os", os_name] if os_name else []), *(["--arch", arch] if arch else [])]
            self("config", *overrides, "--label", f"org.example.name={name}", container)
            self("commit", "-q", "--signature-policy", str(self.policy), container, name)
        finally:
            self("rm", container)
        return name


def _layout_ref(layout: Path, tag: str) -> str:
    return f"oci:{layout}:{tag}"


def build_image(workdir: Path, name: str, content: bytes | str, *, os_name: str | None = None,
                arch: str | None = None) -> str:
    """buildah-built image `name` pushed to the OCI layout `workdir/<name>`; returns `oci:DIR:TAG`."""
    data = content.encode() if isinstance(content, str) else content
    buildah = Buildah(workdir)
    buildah.image(name, data, os_name=os_name, arch=arch)
    layout = workdir / "layouts" / name
    layout.parent.mkdir(parents=True, exist_ok=True)
    ref = _layout_ref(layout, "latest")
    buildah("push", "-q", "--signature-policy", str(buildah.policy), name, ref)
    return ref


def build_index(workdir: Path, name: str, contents: Mapping[str, bytes]) -> str:
    """A multi-platform index (platform "os/arch" -> file content) made with buildah
    manifest create/add and pushed with every image (`manifest push --all`)."""
    buildah = Buildah(workdir)
    buildah("manifest", "create", name)
    for platform, data in contents.items():
        os_name, arch = platform.split("/")
        image = buildah.image(f"{name}-{os_name}-{arch}", data, os_name=os_name, arch=arch)
        buildah("manifest", "add", name, image)
    layout = workdir / "layouts" / name
    layout.parent.mkdir(parents=True, exist_ok=True)
    ref = _layout_ref(layout, "latest")
    buildah("manifest", "push", "-q", "--all", "--signature-policy", str(buildah.policy), name, ref)
    return ref


def skopeo_copy(src: str, dst: str, *extra_args: str) -> str:
    """`skopeo copy` (any transports) with a permissive policy; `extra_args` go before SRC."""
    skopeo = require_tool("skopeo")
    return _run([skopeo, "--insecure-policy", "copy", "-q", *extra_args, src, dst], "skopeo copy")


def skopeo(*args: str) -> str:
    return _run([require_tool("skopeo"), "--insecure-policy", *args], "skopeo")


def skopeo_registry_flags(registry: object, side: str, workdir: Path) -> list[str]:
    """skopeo flags to reach a `RunningRegistry` as `side` ("src" or "dest"): plain HTTP
    without TLS verification on loopback, the test CA as a cert dir, the docker config."""
    flags: list[str] = []
    ca_path = getattr(registry, "ca_path", None)
    if ca_path is None:
        flags.append(f"--{side}-tls-verify=false")
    else:
        cert_dir = workdir / f"certs-{side}"
        cert_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(ca_path, cert_dir / "ca.crt")
        flags.append(f"--{side}-cert-dir={cert_dir}")
    docker_config = getattr(registry, "docker_config", None)
    if docker_config is not None:
        config = Path(docker_config)
        config = config / "config.json" if config.is_dir() else config
        if config.is_file():
            flags.append(f"--{side}-authfile={config}")
    return flags


def layout_path(ref: str) -> Path:
    """`oci:DIR:TAG` -> DIR."""
    return Path(ref[len("oci:") :].rsplit(":", 1)[0])


@dataclass(frozen=True)
class BuildahImages:
    """Layouts built once per session: `single` (one linux/amd64 image) and `multi`
    (linux/amd64 + linux/arm64 index). Read-only: copy before changing."""

    single: str
    multi: str


_SESSION: dict[Path, BuildahImages] = {}


@pytest.fixture(scope="session")
def buildah_images(tmp_path_factory: pytest.TempPathFactory) -> BuildahImages:
    key = tmp_path_factory.getbasetemp()
    if key not in _SESSION:
        workdir = tmp_path_factory.mktemp("buildah")
        _SESSION[key] = BuildahImages(
            single=build_image(workdir, "single", "hello from buildah\n", os_name="linux", arch="amd64"),
            multi=build_index(
                workdir, "multi", {"linux/amd64": b"amd64 says hi\n", "linux/arm64": b"arm64 says hi\n"}
            ),
        )
    return _SESSION[key]


# -- a layout written by `cosign save`, from the shared anchors ----------------------------

COSIGN_SAVED = (
    "slsa-framework__slsa-verifier__cli__slsa-verifier__testdata__gha_generic_container__v2.1.0"
    "__container_workflow_dispatch"
)


def cosign_saved_layout(tmp_path: Path) -> Path:
    """slsa-verifier's `cosign save` layout, laid out again from the shared anchors (its
    index.json and the blobs kept there; the image's own layers were not kept)."""
    index = shared_file("anchors", "verify", f"{COSIGN_SAVED}__index.json")
    path = tmp_path / "cosign-saved"
    (path / "blobs" / "sha256").mkdir(parents=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (path / "index.json").write_bytes(index.read_bytes())
    for blob in index.parent.glob(f"{COSIGN_SAVED}__blobs__sha256__*"):
        (path / "blobs" / "sha256" / blob.name.rsplit("__", 1)[1]).write_bytes(blob.read_bytes())
    return path
