"""Predicate types by cosign's short names, and the in-toto Statement `attest` signs (pure).

cosign's aliases are part of its user interface (`--type slsaprovenance1`); slsacheck
accepts the same names with the same meanings, so a command line moves between the
two tools unchanged. Anything else must be an absolute URI; the statement names the
image digest as its only subject, with the repository as the subject's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from slsacheck._json import load_object, lone_surrogate
from slsacheck.errors import InputError
from slsacheck.models.digest import Digest
from slsacheck.models.predicates import PREDICATE_ALIASES
from slsacheck.models.statement import Statement, Subject

__all__ = ["PREDICATE_ALIASES", "load_predicate", "predicate_type", "statement"]


def predicate_type(name: str) -> str:
    """A cosign alias or an absolute URI -> the predicate type URI."""
    if name in PREDICATE_ALIASES:
        return PREDICATE_ALIASES[name]
    parsed = urlparse(name)
    if parsed.scheme and (parsed.netloc or parsed.path):
        return name
    raise InputError(
        f"unknown predicate type {name!r}",
        expected="one of " + ", ".join(sorted(PREDICATE_ALIASES)) + ", or an absolute URI",
        found=name,
        hint="write the full predicate type URI, e.g. https://slsa.dev/provenance/v1",
    )


def load_predicate(data: bytes, where: str) -> dict[str, Any]:
    """The predicate file's JSON value (an object for every predicate type cosign knows)."""
    predicate = load_object(
        data,
        not_json=lambda exc: InputError(
            f"{where}: the predicate is not valid JSON ({exc})",
            hint="--predicate takes a JSON file (or - for standard input)",
        ),
        not_object=lambda value: InputError(
            f"{where}: the predicate must be a JSON object", found=type(value).__name__
        ),
    )
    odd = lone_surrogate(predicate)
    if odd is not None:
        raise InputError(
            f"{where}: the predicate holds text that is not valid Unicode at {odd!a} (a lone surrogate)",
            expected="UTF-8 text (a \\ud800-\\udfff escape only as half of a pair)",
            hint="fix the predicate: such text cannot be signed, and other tools would read it differently",
        )
    return predicate


def statement(subject_name: str, digest: Digest, predicate_type_uri: str, predicate: Mapping[str, Any]) -> bytes:
    """An in-toto Statement v1 about one image, as the exact (deterministic) bytes to sign."""
    return Statement(
        (Subject(subject_name, {digest.algorithm: digest.hex}),), predicate_type_uri, dict(predicate)
    ).to_bytes()
