"""Predicate types by cosign's short names, and the in-toto Statement `attest` signs (pure).

cosign's aliases are part of its user interface (`--type slsaprovenance1`); slsacheck
accepts the same names with the same meanings, so a command line moves between the
two tools unchanged. Anything else must be an absolute URI; the statement names the
image digest as its only subject, with the repository as the subject's name.

A predicate is never itself a wrapper. `slsacheck provenance generate` prints a whole
in-toto Statement, and a user who hands that file to `attest --predicate` means its
predicate: attesting it as-is would nest a statement inside a statement, which every
verifier reads as a predicate without `builder`, `buildDefinition` or anything else it
looks for. So a Statement given as the predicate is unwrapped, but only when one of its
subjects carries the exact digest being attested (its subjects say which artifact the
predicate describes; anything else would move evidence from one image to another) and
its predicate type is the one asked for. A DSSE envelope or a Sigstore bundle (already
signed evidence) is refused: re-signing it would claim the signer vouches for bytes it
never read as a predicate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from slsacheck._json import load_object, lone_surrogate
from slsacheck.errors import InputError
from slsacheck.models.digest import Digest
from slsacheck.models.predicates import PREDICATE_ALIASES
from slsacheck.models.statement import STATEMENT_TYPES, Statement, Subject

__all__ = ["PREDICATE_ALIASES", "load_predicate", "predicate_for", "predicate_type", "statement", "statement_type"]

_STATEMENT_PREFIX = "https://in-toto.io/Statement/"
_BUNDLE_PREFIX = "application/vnd.dev.sigstore.bundle"


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


def _is_statement(doc: Mapping[str, Any]) -> bool:
    kind = doc.get("_type")
    # in-toto's Link format also has `_type` ("link"): only Statement URIs (and a document
    # shaped like one whose `_type` is missing or wrong) count, so `--type link` still works.
    if isinstance(kind, str) and (kind in STATEMENT_TYPES or kind.startswith(_STATEMENT_PREFIX)):
        return True
    return "subject" in doc and "predicateType" in doc


def _refuse_signed(doc: Mapping[str, Any], where: str) -> None:
    media_type = doc.get("mediaType")
    if isinstance(media_type, str) and media_type.startswith(_BUNDLE_PREFIX):
        raise InputError(
            f"{where}: a Sigstore bundle is not a predicate",
            expected="a predicate JSON object (or an in-toto Statement about the image)",
            found=f"a bundle ({media_type})",
            hint="a bundle is already signed evidence: attach it as it is, or attest the predicate inside it",
        )
    if "payloadType" in doc and "payload" in doc:
        raise InputError(
            f"{where}: a DSSE envelope is not a predicate",
            expected="a predicate JSON object (or an in-toto Statement about the image)",
            found=f"an envelope (payloadType {doc.get('payloadType')!r})",
            hint="an envelope is already signed evidence: attest the predicate of the statement in its payload",
        )


def _statement(doc: Mapping[str, Any], where: str) -> Statement:
    try:
        return Statement.from_dict(doc)
    except InputError as exc:
        raise InputError(
            f"{where}: looks like an in-toto Statement but is not a valid one: {exc.message}",
            expected=exc.expected,
            found=exc.found,
            hint="pass the bare predicate, or a well-formed Statement whose subject names the image digest",
        ) from None


def statement_type(doc: Mapping[str, Any], where: str = "the predicate") -> str | None:
    """The predicate type of `doc` when it is a whole in-toto Statement, else None."""
    if not _is_statement(doc):
        return None
    return _statement(doc, where).predicate_type


def predicate_for(
    doc: Mapping[str, Any], predicate_type_uri: str, digest: Digest, where: str = "the predicate"
) -> Mapping[str, Any]:
    """The predicate to attest about `digest`: `doc` itself, or the predicate of the Statement `doc` is.

    A Statement is used only when one of its subjects names `digest` and its predicate type is
    `predicate_type_uri`; signed evidence (a DSSE envelope, a Sigstore bundle) is refused.
    """
    _refuse_signed(doc, where)
    if not _is_statement(doc):
        return doc
    parsed = _statement(doc, where)
    if parsed.predicate_type != predicate_type_uri:
        raise InputError(
            f"{where}: an in-toto Statement whose predicate type is not the one asked for",
            expected=predicate_type_uri,
            found=parsed.predicate_type,
            hint="leave out --type to attest the statement's own predicate type, or give the matching --type",
        )
    if not parsed.names_digest(digest):
        named = ", ".join(f"{s.name}@{alg}:{value}" for s in parsed.subjects for alg, value in sorted(s.digest.items()))
        raise InputError(
            f"{where}: an in-toto Statement about other artifacts than the image being attested",
            expected=f"a subject with digest {digest}",
            found=named,
            hint="attest the image the statement names (NAME@DIGEST), or generate the statement for this image",
        )
    inner = parsed.predicate
    if _is_statement(inner) or "payloadType" in inner or str(inner.get("mediaType", "")).startswith(_BUNDLE_PREFIX):
        # What the nesting bug produced: unwrapping once would sign the nesting again.
        raise InputError(
            f"{where}: an in-toto Statement whose predicate is itself a Statement or signed evidence",
            expected="a Statement whose predicate is the predicate (e.g. SLSA provenance)",
            found="a wrapper inside the statement's predicate",
            hint="regenerate the statement (slsacheck provenance generate) instead of reusing one read back "
            "from an attestation",
        )
    return inner
