"""Malformed bundles end in slsacheck's own errors, never a crash, and no change to what
the signature, the log or the certificate vouch for is ever accepted.

Every field of a few real bundles (sigstore-conformance happy paths: v0.1, v0.3, DSSE,
Rekor v2 with a TSA, a managed key) is replaced in turn by values of the wrong type or
removed, and the bundle is verified again.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slsacheck.errors import Error
from slsacheck.signing.bundle import verify_bundle
from slsacheck.signing.identity import Identity
from slsacheck.signing.keys import load_public_key
from slsacheck.signing.trust import load_trusted_root
from tests.support.env import shared_file

CASES = (
    "happy-path-v0.1",
    "happy-path-v0.3",
    "happy-path-intoto-in-dsse-v3",
    "rekor2-happy-path",
    "managed-key-happy-path",
)
_DELETE = object()
VALUES: tuple[Any, ...] = (None, 0, -1, "", "x", "!!!", [], {}, True, 1e300, _DELETE)
# Fields whose change must always be refused: they carry what is signed, logged or certified.
BOUND = (
    "signature",
    "rawBytes",
    "canonicalizedBody",
    "rootHash",
    "envelope",
    "signedEntryTimestamp",
    "payload",
    "payloadType",
    "sig",
    "mediaType",
    "keyId",
    "signedTimestamp",
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if path:
        yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))


def _mutated(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    parent = out
    for step in path[:-1]:
        parent = parent[step]
    if value is _DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return out


def _case(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The case's bundle, and what `verify_bundle` needs besides it."""
    folder = shared_file("conformance/test/assets/bundle-verify", name)
    doc = json.loads((folder / "bundle.sigstore.json").read_bytes())
    own_root = folder / "trusted_root.json"
    root = load_trusted_root(
        own_root if own_root.exists() else shared_file("conformance/_offline_extras/production_trusted_root.json")
    )
    artifact = (folder / "artifact" if (folder / "artifact").exists() else folder.parent / "a.txt").read_bytes()
    kwargs: dict[str, Any] = {"artifact": artifact, "trusted_root": root}
    key = folder / "key.pub"
    if Path(key).exists():
        kwargs["public_key"] = load_public_key(key.read_bytes())
    else:
        kwargs["identity"] = Identity(subject_regexp=".*", issuer_regexp=".*")
    return doc, kwargs


@pytest.mark.parametrize("name", CASES)
def test_every_field_mutation_is_a_clean_verdict(name: str) -> None:
    doc, kwargs = _case(name)
    verify_bundle(doc, **kwargs)  # the unmodified bundle verifies

    runs = 0
    for path in _paths(doc):
        for value in VALUES:
            runs += 1
            try:
                verify_bundle(_mutated(doc, path, value), **kwargs)
            except Error:
                continue
            # Accepted: only fields nothing vouches for may change (hints, optional digests, unsigned indexes),
            # and v0.1's checkpoint, which that version makes optional (its SET is the proof), may be absent.
            optional_checkpoint = (
                name.endswith("v0.1") and path[-2:] == ("checkpoint", "envelope") and value in ("", None, _DELETE)
            )
            assert path[-1] not in BOUND or optional_checkpoint, f"{name}: {path} = {value!r} was accepted"
    assert runs > 100


# What `int()` or a truthiness test would take, and protobuf JSON does not write: a number is a
# JSON integer or the string of one; a list is a list (absent means empty, nothing else does).
NOT_INTEGERS: tuple[Any, ...] = (1.0, 1.5, True, "1_0", " 1", "+1", "1 ", "\u0661", "0x1", "", 2**64, str(2**64))
NOT_LISTS: tuple[Any, ...] = ("", 0, {}, False, "x")


def _verify(name: str, doc: dict[str, Any]) -> None:
    verify_bundle(doc, **_case(name)[1])


def _doc(name: str) -> dict[str, Any]:
    return _case(name)[0]


PROOF = ("verificationMaterial", "tlogEntries", 0, "inclusionProof")


@pytest.mark.parametrize("field", ["treeSize", "logIndex"])
def test_a_proof_number_of_another_shape_is_refused_though_its_value_would_do(field: str) -> None:
    # This log's tree has one leaf: treeSize "1" and logIndex "0", which 1.0, True or "+1" would equal.
    name = "intoto-with-custom-trust-root"
    doc = _doc(name)
    written = doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"][field]
    _verify(name, _mutated(doc, (*PROOF, field), int(written)))  # the JSON number instead of its string is fine
    for value in NOT_INTEGERS:
        with pytest.raises(Error, match=r"not an integer|out of range"):
            _verify(name, _mutated(doc, (*PROOF, field), value))


def test_a_list_field_of_another_shape_is_refused_though_empty_would_do() -> None:
    # A managed key verifies without a log entry or a timestamp, so an empty list of either passes...
    name = "managed-key-happy-path"
    doc = _doc(name)
    for path in (("verificationMaterial", "tlogEntries"),
                 ("verificationMaterial", "timestampVerificationData", "rfc3161Timestamps")):
        _verify(name, _mutated(doc, path, []))
        for value in NOT_LISTS:  # ...but a field that is no list is a malformed bundle
            with pytest.raises(Error, match=r"wrong type|not a list"):
                _verify(name, _mutated(doc, path, value))
    one_leaf = "intoto-with-custom-trust-root"  # its proof has no hashes: [] and absent verify
    _verify(one_leaf, _mutated(_doc(one_leaf), (*PROOF, "hashes"), _DELETE))
    for value in NOT_LISTS:
        with pytest.raises(Error, match="not a list"):
            _verify(one_leaf, _mutated(_doc(one_leaf), (*PROOF, "hashes"), value))


def test_a_checkpoint_size_that_is_not_ascii_digits_is_malformed() -> None:
    name = "intoto-with-custom-trust-root"
    doc = _doc(name)
    envelope = doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"]
    origin, size, rest = envelope.split("\n", 2)
    assert size == "1"
    for spelled in ("+1", " 1", "01_", "\u0661", "1.0"):
        changed = {"envelope": f"{origin}\n{spelled}\n{rest}"}
        with pytest.raises(Error, match="bad size"):
            _verify(name, _mutated(doc, (*PROOF, "checkpoint"), changed))
