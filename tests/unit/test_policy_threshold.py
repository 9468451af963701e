"""`signatures.threshold` counts distinct signers (pure evaluation over synthetic evidence).

Who a verified signature's signer is: its key fingerprint, its certificate, and for
keyless its identity (issuer + subject). Any shared one makes two signatures one signer,
and one signer counts for one authority at most; the largest assignment is taken.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from slsacheck.models.evidence import SignerInfo, VerifiedSignature
from slsacheck.models.verdict import Outcome
from slsacheck.policy.authority import KeyAuthority
from slsacheck.policy.evaluate import evaluate
from slsacheck.policy.model import Policy, SignatureRule
from tests.support.policy_evidence import NOW, evidence, key_signer, keyless_signer

NAMES = ("a", "b", "c")


def _policy(threshold: int) -> Policy:
    authorities = {n: KeyAuthority(n, (b"-----BEGIN PUBLIC KEY-----",)) for n in NAMES}
    return Policy("t", Path("t.yaml"), "enforce", (), (), authorities, SignatureRule(NAMES, threshold), ())


def _sig(authority: str, signer: SignerInfo, source: str) -> VerifiedSignature:
    return VerifiedSignature(authority, signer, source)


def _outcome(threshold: int, *signatures: VerifiedSignature) -> tuple[Outcome, str]:
    (check,) = evaluate(_policy(threshold), evidence(signatures=signatures), now=NOW)
    return check.outcome, check.found or ""


def _cert(fp: str, subject: str = "https://ci/pipeline", key: str | None = None) -> SignerInfo:
    signer = keyless_signer(subject)
    return SignerInfo("keyless", key_fingerprint=key or fp * 2, subject=signer.subject, issuer=signer.issuer,
                      tlog=True, certificate_fingerprint=fp)


ONE_KEY = key_signer("11" * 32)
OTHER_KEY = key_signer("22" * 32)


@pytest.mark.parametrize(
    ("signatures", "ok"),
    [
        # one signature verified for two names of one key
        ((_sig("a", ONE_KEY, "s0"), _sig("b", ONE_KEY, "s0")), False),
        # two signatures (two candidates) by one key under two names
        ((_sig("a", ONE_KEY, "s0"), _sig("b", ONE_KEY, "s1")), False),
        # one certificate accepted by two keyless authorities
        ((_sig("a", _cert("c1"), "s0"), _sig("b", _cert("c1"), "s0")), False),
        # two certificates (two signing events) of one identity
        ((_sig("a", _cert("c1"), "s0"), _sig("b", _cert("c2"), "s1")), False),
        # a key authority and a certificate that certifies the same key
        ((_sig("a", ONE_KEY, "s0"), _sig("b", _cert("c1", "https://ci/other", key="11" * 32), "s1")), False),
        # two keys
        ((_sig("a", ONE_KEY, "s0"), _sig("b", OTHER_KEY, "s1")), True),
        # two identities
        ((_sig("a", _cert("c1"), "s0"), _sig("b", _cert("c2", "https://ci/deployer"), "s1")), True),
        # signer 1 counts for a or b, signer 2 only for a: assigning 1 -> b, 2 -> a meets 2
        ((_sig("a", ONE_KEY, "s0"), _sig("b", ONE_KEY, "s0"), _sig("a", OTHER_KEY, "s1")), True),
    ],
)
def test_threshold_two_needs_two_distinct_signers(signatures: tuple[VerifiedSignature, ...], ok: bool) -> None:
    outcome, found = _outcome(2, *signatures)
    assert outcome is (Outcome.PASS if ok else Outcome.FAIL), found
    if not ok:
        assert "one signer counts once" in found


def test_three_names_one_key_never_reach_two() -> None:
    outcome, found = _outcome(2, *(_sig(n, ONE_KEY, f"s{i}") for i, n in enumerate(NAMES)))
    assert outcome is Outcome.FAIL and found.startswith("signed by a;")
