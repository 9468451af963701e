"""What the promotion tests share (no tests here): keys, policies written as YAML, signed
and attested images on the real registry, and the record's schema check. The CLI runner
is `tests.support.cli`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from slsacheck.attach.sign import attest_image, sign_image
from slsacheck.models.descriptor import Platform
from slsacheck.models.digest import Digest
from slsacheck.models.reference import ImageRef
from slsacheck.models.verdict import Verdict
from slsacheck.oci import scratch
from slsacheck.oci.options import RegistryOptions
from slsacheck.oci.store import Store
from slsacheck.policy.load import load_policies
from slsacheck.signing.resolve import load_signer
from slsacheck.signing.signer import Signer
from slsacheck.verify.gate import verify_image
from tests.support.keys import write_key_pairs
from tests.support.policy_evidence import key_policy
from tests.support.registry import RunningRegistry

SCHEMAS = Path(__file__).parents[2] / "schemas"
PREDICATE = {"buildDefinition": {"buildType": "https://tekton.dev/chains/v2/slsa"}}


@dataclass(frozen=True)
class Keys:
    release: Path
    release_pub: Path
    other: Path
    other_pub: Path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    paths = write_key_pairs(tmp_path_factory.mktemp("promote-keys"), "release", "other")
    return Keys(paths["release"], paths["release.pub"], paths["other"], paths["other.pub"])


def signer(key: Path) -> Signer:
    return load_signer(str(key), password=lambda: b"")


def policy_file(directory: Path, include: Sequence[str], key_pub: Path, *, name: str = "release",
                annotations: dict[str, str] | None = None, attest: bool = True) -> Path:
    """A policy: images under `include`, signed (and with `attest`, attested: custom) by `key_pub`."""
    path = directory / f"{name}.yaml"
    path.write_text(key_policy(name, include, key=key_pub, annotations=annotations,
                               attestation="custom" if attest else None))
    return path


def two_platform_index(seed: str) -> scratch.Built:
    return scratch.index([
        scratch.image({"etc/hello": f"amd64 {seed}\n".encode()}, platform=Platform("linux", "amd64")),
        scratch.image({"etc/hello": f"arm64 {seed}\n".encode()}, platform=Platform("linux", "arm64", "v8")),
    ])


def sign_and_attest(store: Store, ref: ImageRef, key: Path, *, attest: bool = True) -> None:
    """Sign the image and every manifest under it (cosign .sig and bundle referrers), and
    attest it (cosign .att and a bundle referrer)."""
    who = signer(key)
    sign_image(store, ref, who, recursive=True, fmt="both")
    if attest:
        attest_image(store, ref, who, predicate_type="https://cosign.sigstore.dev/attestation/v1",
                     predicate=PREDICATE, fmt="both")


def signed_index(reg: RunningRegistry, repo: str, tag: str, key: Path, *, attest: bool = True) -> scratch.Built:
    built = two_platform_index(f"{repo}:{tag}")
    store = reg.store(repo)
    scratch.push(store, built, tag=tag)
    sign_and_attest(store, reg.ref(repo, tag), key, attest=attest)
    return built


def valid_record(doc: Any) -> None:
    import jsonschema

    jsonschema.validate(doc, json.loads((SCHEMAS / "promotion-record.schema.json").read_text()))


def check_verdicts(doc: Any) -> None:
    """Every verdict in a record is a Verdict as verdict.schema.json has it."""
    import jsonschema

    schema = json.loads((SCHEMAS / "verdict.schema.json").read_text())
    jsonschema.validate(doc["source"]["verdict"], schema)
    for d in doc["destinations"]:
        if d["verdict"] is not None:
            jsonschema.validate(d["verdict"], schema)


def complete(store: Store, reference: str) -> bool:
    """Whether the manifest `reference` names is there with every blob and child."""
    manifest = store.fetch_manifest(reference)
    if not all(store.blob_exists(b.digest) for b in manifest.blobs()):
        return False
    return all(complete(store, str(child.digest)) for child in manifest.children)


def digest_of(store: Store, reference: str) -> Digest:
    return store.resolve(reference).digest


def judge(text: str, policy: Path, options: RegistryOptions | None = None) -> Verdict:
    """The gate's verdict on `text` under the policy file `policy`."""
    return verify_image(ImageRef.parse(text), load_policies([policy]), options=options)
