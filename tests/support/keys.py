"""Cosign key pairs written to files, as `slsacheck generate-key-pair` writes them.

`write_key_pairs(directory, "release", "other")` writes `release.key`/`release.pub` and
`other.key`/`other.pub` (private keys encrypted with an empty password unless `password`
says otherwise) and returns their paths by name: `paths["release"]` is the private key,
`paths["release.pub"]` the public one.
"""

from __future__ import annotations

from pathlib import Path

from slsacheck.signing.keys import generate_key_pair


def write_key_pairs(directory: Path, *names: str, password: bytes = b"") -> dict[str, Path]:
    """A fresh key pair per name in `directory`: `{name: private, name + ".pub": public}`."""
    paths: dict[str, Path] = {}
    for name in names:
        private, public = generate_key_pair(password)
        paths[name] = directory / f"{name}.key"
        paths[f"{name}.pub"] = directory / f"{name}.pub"
        paths[name].write_bytes(private)
        paths[f"{name}.pub"].write_bytes(public)
    return paths
