"""Identity regexps are full matches (safer than cosign's and policy-controller's search);
a regexp that would have matched as a search fails the same, with a hint saying why."""

from __future__ import annotations

import pytest

from slsacheck.errors import VerificationError
from slsacheck.signing.identity import Identity
from tests.support.private_sigstore import ISSUER, START, SUBJECT, make_private_sigstore


@pytest.fixture(scope="module")
def leaf():  # type: ignore[no-untyped-def]
    return make_private_sigstore().leaf(START)[1]


def _refusal(identity: Identity, cert: object) -> VerificationError:
    with pytest.raises(VerificationError, match="certificate identity does not match") as info:
        identity.verify(cert)  # type: ignore[arg-type]
    return info.value


def test_full_match_accepts(leaf: object) -> None:
    assert Identity(subject_regexp=r"https://kubernetes\.io/.*/builder", issuer=ISSUER).verify(leaf) == (  # type: ignore[arg-type]
        SUBJECT, ISSUER,
    )


@pytest.mark.parametrize(
    "identity",
    [
        Identity(subject_regexp=r"serviceaccounts/builder", issuer=ISSUER),  # cosign would accept: a search
        Identity(subject_regexp=r"^https://kubernetes\.io/namespaces/ci", issuer=ISSUER),
        Identity(subject=SUBJECT, issuer_regexp=r"issuer\.example"),
        Identity(subject_regexp="builder", issuer_regexp="issuer"),
    ],
)
def test_partial_match_is_refused_with_a_hint(leaf: object, identity: Identity) -> None:
    error = _refusal(identity, leaf)
    assert "matches only part of" in str(error)
    assert "WHOLE value" in (error.hint or "")


@pytest.mark.parametrize(
    "identity",
    [
        Identity(subject_regexp=r"serviceaccounts/deployer", issuer=ISSUER),  # matches nowhere
        Identity(subject_regexp=r"serviceaccounts/builder", issuer="https://other.example"),  # issuer wrong too
        Identity(subject="https://kubernetes.io/namespaces/ci", issuer=ISSUER),  # exact: a prefix is no match
    ],
)
def test_other_mismatches_get_the_usual_hint(leaf: object, identity: Identity) -> None:
    error = _refusal(identity, leaf)
    assert "matches only part" not in str(error)
    assert "--certificate-identity" in (error.hint or "")
