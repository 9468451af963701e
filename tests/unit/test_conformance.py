"""sigstore-conformance `bundle-verify`: all 70 offline cases, each with the artifact
bytes and with `sha256:<hex>`, through `verify_bundle` in-process, and a sample through
the `slsacheck verify-bundle` CLI exactly as the suite calls it.

The cases stay in the shared folder (`conformance/test/assets/bundle-verify/`); what
each one must do comes from `conformance/cases.json` and the directory name
(`_fail` = rejected, anything else = verified). Cases without their own trust root use
the offline copy of the production root (`conformance/_offline_extras/`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from slsacheck.errors import Error
from slsacheck.models.digest import Digest
from slsacheck.signing.bundle import Verified, verify_bundle
from slsacheck.signing.identity import Identity
from slsacheck.signing.keys import load_public_key
from slsacheck.signing.trust import load_trusted_root
from tests.support.env import ROOT, shared_dir

ASSETS = "test/assets/bundle-verify"
PRODUCTION_ROOT = "_offline_extras/production_trusted_root.json"
EXPECTED_CASES, EXPECTED_PASS = 70, 21
# A spread of kinds for the CLI: v0.1/v0.3 messages, DSSE, Rekor v2 + TSA, keys, and failures.
CLI_SAMPLE = (
    "happy-path-v0.1",
    "happy-path-intoto-in-dsse-v3",
    "rekor2-timestamp-with-embedded-cert",
    "managed-key-happy-path",
    "managed-key-wrong-key_fail",
    "signature-mismatch_fail",
    "trust-root-tlog-missing-validity-start_fail",
    "dsse-mismatch-envelope_fail",
)


@dataclass(frozen=True)
class Case:
    name: str
    expect_pass: bool
    bundle: Path
    artifact: Path
    trusted_root: Path
    key: Path | None
    identity: str | None
    issuer: str | None


def _conformance() -> Path:
    return shared_dir() / "conformance"


@cache
def _cases() -> dict[str, Case]:
    base = _conformance()
    doc = json.loads((base / "cases.json").read_text())
    cases = {}
    for entry in doc["cases"]:
        verify_with: dict[str, Any] = entry["verify_with"]
        root = entry["trusted_root"]
        cases[entry["name"]] = Case(
            name=entry["name"],
            expect_pass=entry["expected"] == "pass",
            bundle=base / entry["dir"] / "bundle.sigstore.json",
            artifact=base / entry["artifact"],
            trusted_root=base / (PRODUCTION_ROOT if root.startswith("PRODUCTION") else root),
            key=base / verify_with["key"] if "key" in verify_with else None,
            identity=verify_with.get("certificate_identity"),
            issuer=verify_with.get("certificate_oidc_issuer"),
        )
    return cases


def _case_names() -> list[str]:
    """Collected without failing: with the shared folder absent the one placeholder skips (or fails in CI)."""
    folder = Path(os.environ.get("SLSACHECK_SHARED", ROOT.parent / "shared")) / "conformance" / ASSETS
    names = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    return names or ["<conformance data missing>"]


def _run(case: Case, mode: str) -> Verified:
    data = case.artifact.read_bytes()
    root = load_trusted_root(case.trusted_root)
    kwargs: dict[str, Any] = {"artifact": data} if mode == "path" else {"digest": Digest.of(data)}
    if case.key is not None:
        kwargs["public_key"] = load_public_key(case.key.read_bytes(), where=str(case.key))
    else:
        kwargs["identity"] = Identity(subject=case.identity, issuer=case.issuer)
    return verify_bundle(case.bundle.read_bytes(), trusted_root=root, **kwargs)


def _outcome(case: Case, mode: str) -> tuple[bool, str]:
    """(verified?, why); only slsacheck's own errors count as a rejection, never a crash."""
    try:
        result = _run(case, mode)
    except Error as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return True, result.signer


def test_case_inventory() -> None:
    cases = _cases()
    on_disk = set(_case_names())
    assert on_disk == set(cases), "cases.json and the case directories disagree"
    assert len(cases) == EXPECTED_CASES
    assert sum(c.expect_pass for c in cases.values()) == EXPECTED_PASS
    for case in cases.values():
        assert case.expect_pass != case.name.endswith("_fail"), case.name
        assert (case.key is None) != (case.identity is None and case.issuer is None), case.name


@pytest.mark.parametrize("mode", ["path", "digest"])
@pytest.mark.parametrize("name", _case_names())
def test_bundle_verify_case(name: str, mode: str) -> None:
    case = _cases()[name]
    verified, why = _outcome(case, mode)
    if case.expect_pass:
        assert verified, f"{name} ({mode}) must verify but was rejected: {why}"
    else:
        assert not verified, f"{name} ({mode}) must be rejected but verified as {why}"


def test_all_cases_count(capsys: pytest.CaptureFixture[str]) -> None:
    cases = _cases()
    agree = sum(_outcome(case, mode)[0] == case.expect_pass for case in cases.values() for mode in ("path", "digest"))
    with capsys.disabled():
        print(
            f"\nsigstore-conformance bundle-verify: {agree}/{2 * len(cases)} runs end as named "
            f"({len(cases)} cases x PATH, DIGEST)"
        )
    assert agree == 2 * len(cases)


def _cli(case: Case, mode: str) -> subprocess.CompletedProcess[str]:
    """The suite's argument order: verify-bundle --bundle B (--certificate-identity I --certificate-oidc-issuer U
    | --key K) [--trusted-root R] FILE_OR_DIGEST."""
    argv = [sys.executable, "-m", "slsacheck", "verify-bundle", "--bundle", str(case.bundle)]
    if case.key is not None:
        argv += ["--key", str(case.key)]
    else:
        argv += ["--certificate-identity", str(case.identity), "--certificate-oidc-issuer", str(case.issuer)]
    argv += ["--trusted-root", str(case.trusted_root)]
    argv.append(str(case.artifact) if mode == "path" else str(Digest.of(case.artifact.read_bytes())))
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)


@pytest.mark.parametrize("mode", ["path", "digest"])
@pytest.mark.parametrize("name", CLI_SAMPLE)
def test_cli_protocol(name: str, mode: str) -> None:
    case = _cases()[name]
    proc = _cli(case, mode)
    if case.expect_pass:
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("verified:")
    else:
        assert proc.returncode != 0
        assert proc.stderr.startswith("error: "), proc.stderr
        assert "Traceback" not in proc.stderr


def test_cli_refuses_without_trust_root_offline() -> None:
    case = _cases()["happy-path-v0.3"]
    argv = [
        sys.executable,
        "-m",
        "slsacheck",
        "verify-bundle",
        "--bundle",
        str(case.bundle),
        "--certificate-identity",
        str(case.identity),
        "--certificate-oidc-issuer",
        str(case.issuer),
        "--offline",
        str(case.artifact),
    ]
    # Without --trusted-root the root is the TUF-cached public-good one; offline, with nothing
    # cached (the tests' own empty cache), nothing is fetched and the bundle is not verified.
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert proc.returncode == 3
    assert "is not cached" in proc.stderr and "--trusted-root" in proc.stderr
    assert "trusted-root update" in proc.stderr


def test_cli_needs_key_or_identity() -> None:
    case = _cases()["happy-path-v0.3"]
    argv = [sys.executable, "-m", "slsacheck", "verify-bundle", "--bundle", str(case.bundle), str(case.artifact)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert proc.returncode == 2
    assert "--key or a certificate identity" in proc.stderr


def test_cli_json_output() -> None:
    case = _cases()["managed-key-happy-path"]
    argv = [
        sys.executable,
        "-m",
        "slsacheck",
        "verify-bundle",
        "--output",
        "json",
        "--bundle",
        str(case.bundle),
        "--key",
        str(case.key),
        "--trusted-root",
        str(case.trusted_root),
        str(case.artifact),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["verified"] is True and doc["kind"] == "message"
    assert doc["keyFingerprint"] and doc["signer"] == f"key sha256:{doc['keyFingerprint']}"
