"""What an image's evidence says, for a person: who signed, what built it, what SLSA level.

`describe` turns the candidates collected for one image (`slsacheck.attach.candidates`)
and what verified among them into the evidence summary of an audit report:

- each signature and attestation, with the signer it NAMES (keyless: the certificate's
  identity and issuer; key: the key hint when the bundle carries one), whether it carries
  a transparency-log entry, and whether it VERIFIED, and for whom;
- the provenance (SLSA v1 or v0.2): builder, build type, sources, refs, commits, tasks,
  task references, step images, finish time, and the image's age from that time;
- the SLSA build level the evidence supports, with the reason.

Naming is not verifying. A signer is "verified" only when a policy authority (or, without
a policy, the `--trusted-root` given for keyless signatures) accepted the signature, and an
attestation only when an authority its policy entry lists for that predicate type did (the
gate shows the others rejected). The builder, sources and level come only from verified
provenance: what an unverified candidate claims is never shown as a fact. The levels (SLSA v1.0 build track):
L0 no provenance; L1 provenance present, its signature not verified; L2 provenance
whose signature verified; L3 that, and a policy pinned the builder (`provenance.builderIds`
passed): L3 then rests on that builder being hardened, which no evidence can show; and
never for provenance slsacheck made in a build step or from exported runs, which the
tenant could forge (`slsacheck.provenance.builders.max_level`: L2 at most).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from slsacheck._json import parse
from slsacheck.attach.candidates import BundleReferrer, Candidate, Candidates, TagAttestation, TagSignature
from slsacheck.models.digest import Digest
from slsacheck.models.verdict import Outcome, Verdict
from slsacheck.policy.provenance_facts import SLSA_V02, SLSA_V1, Fact, provenance_facts
from slsacheck.policy.provenance_rules import normalise_repo
from slsacheck.policy.urls import UnsafeURL
from slsacheck.provenance.builders import max_level
from slsacheck.signing.identity import certificate_identity

PROVENANCE_TYPES = frozenset({SLSA_V1, SLSA_V02, "https://slsa.dev/provenance/v0.1"})
_MAX_LIST = 50  # facts listed per kind; a summary, not a copy of the provenance
Verified = Mapping[str, Sequence[Mapping[str, Any]]]  # candidate source -> verified entries


def _cert_signer(pem_or_der: bytes) -> dict[str, Any]:

    try:
        cert = (x509.load_pem_x509_certificate(pem_or_der) if pem_or_der.lstrip().startswith(b"-----")
                else x509.load_der_x509_certificate(pem_or_der))
        subject, issuer = certificate_identity(cert)
    except Exception as exc:  # any unreadable certificate is described, not raised
        return {"kind": "keyless", "identity": None, "issuer": None, "problem": f"certificate unreadable: {exc}"}
    return {"kind": "keyless", "identity": subject, "issuer": issuer}


def _bundle_material(bundle: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    material = bundle.get("verificationMaterial")
    material = material if isinstance(material, Mapping) else {}
    tlog = bool(material.get("tlogEntries"))
    raw = None
    cert = material.get("certificate")
    if isinstance(cert, Mapping):
        raw = cert.get("rawBytes")
    chain = material.get("x509CertificateChain")
    if raw is None and isinstance(chain, Mapping):
        certs = chain.get("certificates")
        if isinstance(certs, list) and certs and isinstance(certs[0], Mapping):
            raw = certs[0].get("rawBytes")
    if isinstance(raw, str):
        try:
            return _cert_signer(base64.b64decode(raw, validate=True)), tlog
        except (binascii.Error, ValueError):
            return {"kind": "keyless", "identity": None, "issuer": None, "problem": "certificate is not base64"}, tlog
    key = material.get("publicKey")
    hint = key.get("hint") if isinstance(key, Mapping) else None
    return {"kind": "key", "keyHint": hint if isinstance(hint, str) else None}, tlog


def _signer(candidate: Candidate) -> tuple[dict[str, Any], bool]:
    """The signer a candidate names (unverified) and whether it carries a tlog entry."""
    if isinstance(candidate, BundleReferrer):
        return _bundle_material(candidate.bundle)
    material = candidate.material
    tlog = material.rekor_bundle is not None
    if material.certificate is not None:
        return _cert_signer(material.certificate), tlog
    return {"kind": "key", "keyHint": None}, tlog


def _payload(candidate: Candidate) -> Mapping[str, Any] | None:
    """The in-toto statement an attestation candidate carries, read without trusting it."""
    match candidate:
        case TagAttestation():
            envelope: object = candidate.envelope
        case BundleReferrer():
            envelope = candidate.bundle.get("dsseEnvelope")
        case TagSignature():
            return None
    if not isinstance(envelope, Mapping) or not isinstance(envelope.get("payload"), str):
        return None
    try:
        statement = parse(base64.b64decode(envelope["payload"]))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return statement if isinstance(statement, dict) else None


def _names_digest(statement: Mapping[str, Any], digest: Digest) -> bool:
    subjects = statement.get("subject")
    if not isinstance(subjects, list):
        return False
    return any(isinstance(s, Mapping) and isinstance(s.get("digest"), Mapping)
               and s["digest"].get(digest.algorithm) == digest.hex for s in subjects)


def _age(finished: str | None, now: datetime) -> dict[str, Any] | None:
    if not finished:
        return None
    try:
        when = datetime.fromisoformat(finished.replace("Z", "+00:00"))
    except ValueError:
        return {"since": finished, "days": None}
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return {"since": finished, "days": round((now - when).total_seconds() / 86400, 2)}


def _sources(facts: Sequence[Fact]) -> tuple[list[str], dict[str, list[str]]]:
    """One repository once: Tekton records it as a resolved dependency
    (`git+https://host/o/r.git`) and as the clone task's result (`https://host/o/r`).
    Listed in the form the policy's `sources` patterns are matched against, with the
    spellings the provenance used where they differ (a URL with no safe form stays as written)."""
    written: dict[str, set[str]] = {}
    for fact in facts:
        try:
            canonical = normalise_repo(fact.value)
        except UnsafeURL:
            canonical = fact.value
        written.setdefault(canonical, set()).add(fact.value)
    names = sorted(written)[:_MAX_LIST]
    return names, {n: sorted(written[n] - {n}) for n in names if written[n] - {n}}


def _provenance(statement: Mapping[str, Any]) -> dict[str, Any]:
    facts = provenance_facts(statement)
    sources, as_written = _sources(facts.sources)
    return {
        "version": facts.version,
        "builder": facts.builder_id,
        "buildType": facts.build_type,
        "sources": sources,
        "sourcesAsWritten": as_written,
        "refs": sorted({f.value for f in facts.refs})[:_MAX_LIST],
        "commits": sorted({f.value for f in facts.commits})[:_MAX_LIST],
        "tasks": [{"name": t.name, "task": t.task} for t in facts.tasks][:_MAX_LIST],
        "taskRefs": [{"uri": r.uri, "digest": r.digest} for r in facts.task_refs][:_MAX_LIST],
        "stepImages": [{"name": s.name, "digest": s.digest} for s in facts.step_images][:_MAX_LIST],
        "finishedOn": facts.finished_on,
    }


def _verifiable(signer: Mapping[str, Any], tlog: bool) -> str:
    """What it would take to verify an unverified candidate."""
    if signer.get("kind") == "keyless":
        how = "a keyless authority (identity and issuer) with the deployment's trusted root"
        return how + ("" if tlog else "; it carries no transparency-log entry, which most policies require")
    return "the signer's public key, named by a policy's key authority"


def _verified_by(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    return [{"authority": str(e.get("authority")), "signer": str(e.get("signer"))} for e in entries]


def _level(
    provenances: list[dict[str, Any]],
    verdict: Verdict | None,
    trust: str,
    caps: Mapping[str, tuple[int, str] | None] | None = None,
) -> dict[str, Any]:
    if not provenances:
        return {"level": 0, "reason": "no SLSA provenance attestation was found"}
    verified = [p for p in provenances if p["verified"]]
    if not verified:
        claimed = provenances[0]
        why = (f"no authority the policy trusts for it accepted it ({claimed['rejected']})" if claimed.get("rejected")
               else f"nothing to verify its signature against ({trust})")
        return {"level": 1, "reason": f"SLSA provenance is present but its signature was not verified: {why}"}
    best = verified[0]
    signer = best["verifiedBy"][0]["signer"]
    builder = best["provenance"]["builder"] if best.get("provenance") else None
    pinned = verdict is not None and any(c.id == "provenance.builderIds" and c.outcome is Outcome.PASS
                                         for c in verdict.checks)
    cap = (caps or {}).get(str(best.get("source")))
    if pinned and cap is not None:
        # The SLSA build track's L3 asks for provenance the tenant cannot forge; this builder's cannot be.
        return {"level": cap[0], "reason": f"provenance signed by {signer} and verified, builder {builder} pinned by "
                f"the policy; but L3 does not hold for this builder: {cap[1]}"}
    if pinned:
        policy = next(c.policy for c in verdict.checks if c.id == "provenance.builderIds") if verdict else None
        return {"level": 3, "reason": f"provenance signed by {signer} and verified; its builder {builder} is one "
                f"policy {policy} trusts (L3 holds if that builder is hardened: isolated, its signing key "
                "out of reach of the build steps)"}
    why = ("no policy pins the builder, so hardening cannot be judged" if verdict is None
           else f"the policy does not accept its builder {builder}" if any(
               c.id == "provenance.builderIds" and c.outcome is Outcome.FAIL for c in verdict.checks)
           else "the policy pins no builder, so hardening cannot be judged")
    return {"level": 2, "reason": f"provenance signed by {signer} and verified; {why}"}


def describe(
    candidates: Candidates,
    verified: Verified,
    *,
    now: datetime,
    verdict: Verdict | None = None,
    trust: str = "no policy and no --trusted-root",
    rejected_reasons: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The evidence summary of one image (see the module docstring)."""
    rejected_reasons = rejected_reasons or {}
    signatures: list[dict[str, Any]] = []
    attestations: list[dict[str, Any]] = []
    provenances: list[dict[str, Any]] = []
    caps: dict[str, tuple[int, str] | None] = {}
    for sig in candidates.signatures:
        signer, tlog = _signer(sig)
        entries = verified.get(sig.source, ())
        signature: dict[str, Any] = {
            "source": sig.source, "origin": sig.origin,
            "format": "sigstore-bundle" if isinstance(sig, BundleReferrer) else "simple-signing",
            "signer": signer, "tlog": tlog, "verified": bool(entries), "verifiedBy": _verified_by(entries),
        }
        if sig.source in rejected_reasons:
            signature["rejected"] = rejected_reasons[sig.source]
        if not entries:
            signature["verifiableWith"] = _verifiable(signer, tlog)
        signatures.append(signature)
    for candidate in candidates.attestations:
        signer, tlog = _signer(candidate)
        entries = verified.get(candidate.source, ())
        statement = _payload(candidate)
        ptype = statement.get("predicateType") if statement else None
        ptype = ptype if isinstance(ptype, str) else candidate.predicate_type
        item: dict[str, Any] = {
            "source": candidate.source, "origin": candidate.origin, "predicateType": ptype,
            "signer": signer, "tlog": tlog, "verified": bool(entries), "verifiedBy": _verified_by(entries),
        }
        if candidate.source in rejected_reasons:
            item["rejected"] = rejected_reasons[candidate.source]
        if not entries:
            item["verifiableWith"] = _verifiable(signer, tlog)
        if statement is not None and not _names_digest(statement, candidates.digest):
            item["problem"] = f"the statement's subject does not name {candidates.digest}"
        elif statement is not None and ptype in PROVENANCE_TYPES:
            if entries:  # what an untrusted signer claims is not shown as a fact
                item["provenance"] = _provenance(statement)
                predicate = statement.get("predicate")
                caps[candidate.source] = max_level(str(item["provenance"]["builder"] or ""),
                                                   predicate if isinstance(predicate, Mapping) else None)
            provenances.append(item)
        attestations.append(item)
    # Verified provenance first: it is what the level and the summary speak of.
    provenances.sort(key=lambda p: not p["verified"])
    chosen = provenances[0].get("provenance") if provenances and provenances[0]["verified"] else None
    return {
        "signatures": signatures,
        "attestations": attestations,
        "rejected": [{"kind": r.kind, "source": r.source, "reason": r.reason} for r in candidates.rejected],
        "provenance": chosen,
        "age": _age(chosen.get("finishedOn") if chosen else None, now),
        "slsa": _level(provenances, verdict, trust, caps),
        "searched": list(candidates.searched),
        "incomplete": list(candidates.incomplete),
    }


def verified_sources(evidence: Mapping[str, Any]) -> tuple[dict[str, list[Mapping[str, Any]]], dict[str, str]]:
    """From a verdict's evidence summary (`slsacheck.verify.collect.summary`): what verified
    per candidate source, and why each rejected one was rejected."""
    verified: dict[str, list[Mapping[str, Any]]] = {}
    rejected: dict[str, str] = {}
    for key in ("signatures", "attestations"):
        section = evidence.get(key)
        if not isinstance(section, Mapping):
            continue
        for entry in section.get("verified") or []:
            verified.setdefault(str(entry.get("source")), []).append(entry)
        for entry in section.get("rejected") or []:
            rejected[str(entry.get("source"))] = str(entry.get("reason"))
    return verified, rejected
