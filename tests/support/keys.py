"""Cosign key pairs written to files, as `slsacheck generate-key-pair` writes them.

`write_key_pairs(directory, "release", "other")` writes `release.key`/`release.pub` and
`other.key`/`other.pub` (private keys encrypted with an empty password unless `password`
says otherwise) and returns their paths by name: `paths["release"]` is the private key,
`paths["release.pub"]` the public one. `all_keys` (a module-scoped fixture: test modules
import it by name) holds one in-memory private key of each kind slsacheck signs with.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from slsacheck.signing import keys


def write_key_pairs(directory: Path, *names: str, password: bytes = b"") -> dict[str, Path]:
    """A fresh key pair per name in `directory`: `{name: private, name + ".pub": public}`."""
    paths: dict[str, Path] = {}
    for name in names:
        private, public = keys.generate_key_pair(password)
        paths[name] = directory / f"{name}.key"
        paths[f"{name}.pub"] = directory / f"{name}.pub"
        paths[name].write_bytes(private)
        paths[f"{name}.pub"].write_bytes(public)
    return paths


@pytest.fixture(scope="module")
def all_keys() -> dict[str, keys.SigningKey]:
    """One private key per kind, by name: p256, p384, p521, ed25519, rsa2048."""
    return {
        "p256": ec.generate_private_key(ec.SECP256R1()),
        "p384": ec.generate_private_key(ec.SECP384R1()),
        "p521": ec.generate_private_key(ec.SECP521R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
        "rsa2048": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }
