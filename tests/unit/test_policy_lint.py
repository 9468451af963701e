"""`policy lint` warnings about authorities one signer can satisfy: no false alarm on independent ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from slsacheck.policy.authority import Authority, KeyAuthority, KeylessAuthority
from slsacheck.policy.lint import one_signer_for_both
from slsacheck.signing.identity import Identity
from tests.support.policy_evidence import public_pem

KEY = public_pem()
ROOT = Path("/trust/root.json")
ISSUER = "https://token.actions.githubusercontent.com"


def _keyless(*identities: Identity, root: Path = ROOT) -> KeylessAuthority:
    return KeylessAuthority("k", root, identities)


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        (KeyAuthority("a", (KEY,)), KeyAuthority("b", (KEY.replace(b"\n", b"\r\n") + b"\n",)), True),
        (KeyAuthority("a", (KEY,)), KeyAuthority("b", (public_pem(), KEY)), True),
        (KeyAuthority("a", (KEY,)), KeyAuthority("b", (public_pem(),)), False),
        (_keyless(Identity(ISSUER, "https://ci/a")), _keyless(Identity(ISSUER, "https://ci/a")), True),
        (_keyless(Identity(ISSUER, "https://ci/a")), _keyless(Identity(ISSUER, "https://ci/b")), False),
        (_keyless(Identity(ISSUER, "https://ci/a")),
         _keyless(Identity(issuer_regexp=".*", subject_regexp="https://ci/.*")), True),
        (_keyless(Identity(ISSUER, "https://ci/a")),
         _keyless(Identity(issuer_regexp=".*", subject_regexp="https://other/.*")), False),
        (_keyless(Identity(ISSUER, "https://ci/a")),
         _keyless(Identity(ISSUER, "https://ci/a"), root=Path("/trust/other.json")), False),
        (KeyAuthority("a", (KEY,)), _keyless(Identity(ISSUER, "https://ci/a")), False),
    ],
)
def test_one_signer_for_both(a: Authority, b: Authority, overlap: bool) -> None:
    assert (one_signer_for_both(a, b) is not None) is overlap
    assert (one_signer_for_both(b, a) is not None) is overlap
