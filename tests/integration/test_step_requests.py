"""The registry requests a Tekton step's `sign` / `attest --format legacy` make, counted at a
proxy in front of a real registry: what each write needs (resolve, read the tag to merge,
upload, write, read back) and nothing more, and a re-run still merging and verifying.

A blob the command has just built (the new signature's layer, the merged config) is uploaded
without asking first whether the registry has it; a large or streamed blob still is asked
about, as is one whose writer does not call it fresh.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from slsacheck.attach import cosign_tags as ct
from slsacheck.errors import RegistryError
from slsacheck.models import Descriptor
from slsacheck.models import mediatypes as mt
from slsacheck.oci import RegistryClient, RegistryStore
from slsacheck.oci.options import RegistryOptions
from tests.support.cli import Run, cli
from tests.support.keys import write_key_pairs
from tests.support.proxy import Proxy, run_proxy
from tests.support.registry import RunningRegistry, push_scratch

__all__ = ["cli"]  # the fixture, imported for pytest

PREDICATE = "https://example.com/predicate/v1"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_key_pairs(tmp_path_factory.mktemp("keys"), "k1")


def _kinds(proxy: Proxy) -> list[str]:
    """Each request as METHOD + what it addresses (upload sessions and digests left out)."""
    out = []
    for seen in proxy.requests:
        path = seen.path.split("?")[0]
        if "/blobs/uploads/" in path:
            kind = "upload"
        elif "/blobs/" in path:
            kind = "blob"
        elif path.endswith(".sig") or path.endswith(".att"):
            kind = "tag " + path[-3:]
        elif "/manifests/" in path:
            kind = "manifest"
        else:
            kind = path
        out.append(f"{seen.method} {kind}")
    return out


def _write(suffix: str) -> list[str]:
    """What appending one layer to a cosign tag costs: read it, upload the layer and the
    config (POST + PUT each), write the manifest, read it back."""
    uploads = ["POST upload", "PUT upload"] * 2
    return [f"GET tag {suffix}", *uploads, f"PUT tag {suffix}", f"GET tag {suffix}"]


def test_sign_and_attest_ask_nothing_about_blobs_they_just_built(
    cli: Callable[..., Run], registry_http: RunningRegistry, repo_name: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    push_scratch(registry_http, repo_name, "v1", "step")
    predicate = tmp_path / "predicate.json"
    predicate.write_text('{"n": 1}')
    with run_proxy(registry_http.host) as proxy:
        image = f"{proxy.host}/{repo_name}:v1"
        assert cli("sign", "--key", str(keys["k1"]), "--format", "legacy", image).code == 0
        assert _kinds(proxy) == ["GET /v2/", "GET manifest", *_write("sig")]
        proxy.clear()
        assert cli("attest", "--key", str(keys["k1"]), "--format", "legacy", "--predicate", str(predicate),
                   "--type", PREDICATE, image).code == 0
        # The registry's `/v2/` answer is remembered within a process (the CLI fixture's).
        assert [k for k in _kinds(proxy) if k != "GET /v2/"] == ["GET manifest", *_write("att")]
        assert proxy.count("HEAD") == 0


def test_signing_again_uploads_the_same_payload_again_and_keeps_both_signatures(
    cli: Callable[..., Run], registry_http: RunningRegistry, repo_name: str, keys: dict[str, Path]
) -> None:
    """The second signature's payload is the first's blob (simple signing is deterministic):
    storing it again is harmless, the merge keeps the first layer, and both verify."""
    built = push_scratch(registry_http, repo_name, "v1", "again")
    with run_proxy(registry_http.host) as proxy:
        image = f"{proxy.host}/{repo_name}:v1"
        assert cli("sign", "--key", str(keys["k1"]), "--format", "legacy", image).code == 0
        assert cli("sign", "--key", str(keys["k1"]), "--format", "legacy", image).code == 0
        assert proxy.count("HEAD") == 0
    manifest = registry_http.store(repo_name).fetch_manifest(ct.signature_tag(built.digest))
    layers = manifest.layers
    assert len(layers) == 2 and layers[0].digest == layers[1].digest
    assert layers[0].annotations[mt.ANN_SIGNATURE] != layers[1].annotations[mt.ANN_SIGNATURE]
    run = cli("verify", "--key", str(keys["k1.pub"]), "--tlog", "ignore", f"{registry_http.host}/{repo_name}:v1")
    assert run.code == 0, run.out


@pytest.mark.parametrize(
    "case",
    [
        (100, True, False, 0),  # small, just built: uploaded unasked
        (100, False, False, 1),  # the writer does not say it is new
        (64 * 1024 + 1, True, False, 1),  # too large to send in vain
        (100, True, True, 1),  # streamed: cannot be re-sent for free
    ],
)
def test_only_small_fresh_in_memory_blobs_skip_the_question(
    registry_http: RunningRegistry, repo_name: str, case: tuple[int, bool, bool, int]
) -> None:
    size, fresh, stream, heads = case
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    descriptor = Descriptor.of(data, mt.OCI_CONFIG)
    with run_proxy(registry_http.host) as proxy:
        store = RegistryStore(RegistryClient(proxy.host, RegistryOptions()), repo_name)
        store.push_blob(descriptor, io.BytesIO(data) if stream else data, fresh=fresh)
        assert proxy.count("HEAD", "/blobs/") == heads
        assert store.fetch_blob(descriptor, max_size=size) == data


def test_a_registry_refusing_to_store_a_blob_again_is_asked_after_the_fact(
    registry_http: RunningRegistry, repo_name: str
) -> None:
    """Some registries refuse an upload of a blob they have: a fresh blob already there is
    what the writer needed; one that is not there is still an error."""
    there, missing = b'{"there":1}', b'{"missing":1}'
    with run_proxy(registry_http.host) as proxy:
        store = RegistryStore(RegistryClient(proxy.host, RegistryOptions(retries=0)), repo_name)
        store.push_blob(Descriptor.of(there, mt.OCI_CONFIG), there)
        proxy.clear()
        proxy.fail("/blobs/uploads/", 400, method="PUT", times=None)
        store.push_blob(Descriptor.of(there, mt.OCI_CONFIG), there, fresh=True)
        assert proxy.count("PUT", "/blobs/uploads/") == 1 and proxy.count("HEAD", "/blobs/") == 1
        with pytest.raises(RegistryError):
            store.push_blob(Descriptor.of(missing, mt.OCI_CONFIG), missing, fresh=True)
