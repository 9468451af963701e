"""Policies of other admission controllers as ImagePolicy documents: a policy-controller
`ClusterImagePolicy`, and Kyverno `verifyImages` rules where they map.

Pure: parsed documents in, ImagePolicy documents and notes out. A note names every field
that could not carry over (CUE/Rego policies, KMS keys, Secret references, static
authorities, signatures kept in another repository, Kyverno JMESPath conditions) and
what to do instead; nothing is dropped silently. Where the semantics differ (policy-
controller passes an image when ANY authority is satisfied with its attestations; an
ImagePolicy requires every attestation entry), the note says so, and the conversion
takes the stricter reading, never the looser one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from slsacheck.errors import InputError

API_VERSION = "slsacheck.dev/v1alpha1"
KEYLESS_ROOT = "trusted_root.json"


@dataclass
class Converted:
    policies: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _section(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, Mapping) else {}


def _name(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "converted"


def _identities(spec: Mapping[str, Any]) -> list[dict[str, str]]:
    out = []
    for ident in spec.get("identities") or []:
        if isinstance(ident, Mapping):
            out.append({k: str(ident[k]) for k in ("issuer", "subject", "issuerRegExp", "subjectRegExp")
                        if ident.get(k)})
    return out


# -- policy-controller ----------------------------------------------------------------------


def _cip_authority(raw: Mapping[str, Any], name: str, where: str, notes: list[str]) -> dict[str, Any] | None:
    for unsupported, advice in (("static", "an allow/deny list: use images.exclude or a second policy"),
                                ("source", "signatures kept in another repository: copy them beside the image "
                                 "(slsacheck copy) or sign there"),
                                ("rfc3161timestamp", "TSA timestamps are verified when present; no setting needed"),
                                ("ctlog", "slsacheck checks the transparency log through the authority's "
                                 "trustedRoot (keyless: requireTlog)")):
        if unsupported in raw:
            notes.append(f"{where}.{unsupported}: not carried over ({advice})")
    key = raw.get("key")
    if isinstance(key, Mapping):
        for unsupported in ("secretRef", "kms"):
            if unsupported in key:
                notes.append(f"{where}.key.{unsupported}: not carried over (put the PEM public key in a file "
                             f"beside the policy and name it in authorities[{name}].key.file)")
                return None
        if key.get("hashAlgorithm"):
            notes.append(f"{where}.key.hashAlgorithm: not needed (the key's algorithm decides)")
        if not isinstance(key.get("data"), str):
            notes.append(f"{where}.key: no data; not carried over")
            return None
        return {"name": name, "key": {"pem": key["data"]}}
    keyless = raw.get("keyless")
    if isinstance(keyless, Mapping):
        identities = _identities(keyless)
        if not identities:
            notes.append(f"{where}.keyless: no identities (policy-controller then accepts any certificate of the "
                         "CA); slsacheck requires an identity: not carried over")
            return None
        for unsupported in ("ca-cert", "url", "trustRootRef", "insecureIgnoreSCT"):
            if unsupported in keyless:
                notes.append(f"{where}.keyless.{unsupported}: replaced by trustedRoot {KEYLESS_ROOT} (put your "
                             "Sigstore instance's trusted_root.json beside the policy)")
        return {"name": name, "keyless": {"trustedRoot": KEYLESS_ROOT, "identities": identities,
                                          "requireTlog": True}}
    notes.append(f"{where}: neither key nor keyless; not carried over")
    return None


def from_cluster_image_policy(doc: Mapping[str, Any]) -> Converted:
    out = Converted()
    meta = _section(doc, "metadata")
    name = _name(str(meta.get("name") or "converted"))
    spec = _section(doc, "spec")
    include = []
    for i, image in enumerate(spec.get("images") or []):
        if isinstance(image, Mapping) and isinstance(image.get("glob"), str):
            include.append(image["glob"])
        elif isinstance(image, Mapping) and "regex" in image:
            out.notes.append(f"spec.images[{i}].regex: not carried over (write it as a glob: ** crosses /)")
    if not include:
        raise InputError(f"ClusterImagePolicy {name}: no spec.images glob to carry over",
                         hint="an ImagePolicy must say which images it judges")
    authorities: list[dict[str, Any]] = []
    attestations: list[dict[str, Any]] = []
    for i, raw in enumerate(spec.get("authorities") or []):
        if not isinstance(raw, Mapping):
            continue
        where = f"spec.authorities[{i}]"
        auth_name = _name(str(raw.get("name") or f"authority-{i}"))
        authority = _cip_authority(raw, auth_name, where, out.notes)
        if authority is None:
            continue
        authorities.append(authority)
        for j, att in enumerate(raw.get("attestations") or []):
            if not isinstance(att, Mapping) or not att.get("predicateType"):
                continue
            entry = {"name": _name(str(att.get("name") or f"{auth_name}-{j}")),
                     "predicateType": str(att["predicateType"]), "authorities": [auth_name]}
            attestations.append(entry)
            if att.get("policy"):
                kind = att["policy"].get("type", "policy") if isinstance(att["policy"], Mapping) else "policy"
                out.notes.append(f"{where}.attestations[{j}].policy ({kind}): not carried over; the attestation "
                                 f"{entry['name']} is required, its content unchecked: write the rules as "
                                 "provenance/vulnerabilities rules or CEL conditions")
    if not authorities:
        raise InputError(f"ClusterImagePolicy {name}: no authority could be carried over",
                         hint="see the notes above; an ImagePolicy needs at least one authority")
    if len(authorities) > 1 and attestations:
        out.notes.append("semantics: policy-controller passes an image when any one authority is satisfied with "
                         "its attestations; the ImagePolicy requires every attestation entry (stricter)")
    if isinstance(spec.get("policy"), Mapping):
        out.notes.append("spec.policy: not carried over (a CUE/Rego policy over all authorities: write it as "
                         "CEL conditions on an attestation)")
    policy_spec: dict[str, Any] = {
        "mode": "warn" if spec.get("mode") == "warn" else "enforce",
        "images": {"include": include},
        "authorities": authorities,
        "signatures": {"authorities": [a["name"] for a in authorities], "threshold": 1},
    }
    if attestations:
        policy_spec["attestations"] = attestations
    out.policies.append({"apiVersion": API_VERSION, "kind": "ImagePolicy", "metadata": {"name": name},
                         "spec": policy_spec})
    return out


# -- Kyverno ------------------------------------------------------------------------------


def _kyverno_attestors(attestors: Any, prefix: str, where: str, notes: list[str]
                       ) -> tuple[list[dict[str, Any]], int]:
    """Authorities for every entry of every attestor set, and the threshold (sum of counts)."""
    authorities: list[dict[str, Any]] = []
    threshold = 0
    for i, attestor in enumerate(attestors or []):
        if not isinstance(attestor, Mapping):
            continue
        entries = [e for e in attestor.get("entries") or [] if isinstance(e, Mapping)]
        made = 0
        for j, entry in enumerate(entries):
            here = f"{where}.attestors[{i}].entries[{j}]"
            name = f"{prefix}-{i}-{j}"
            keys = entry.get("keys")
            keyless = entry.get("keyless")
            if isinstance(keys, Mapping) and isinstance(keys.get("publicKeys"), str):
                authorities.append({"name": name, "key": {"pem": keys["publicKeys"]}})
                made += 1
            elif isinstance(keyless, Mapping) and (keyless.get("subject") or keyless.get("subjectRegExp")):
                ident = {k: str(keyless[k]) for k in ("issuer", "subject", "issuerRegExp", "subjectRegExp")
                         if keyless.get(k)}
                authorities.append({"name": name, "keyless": {"trustedRoot": KEYLESS_ROOT, "identities": [ident],
                                                              "requireTlog": True}})
                if keyless.get("roots"):
                    notes.append(f"{here}.keyless.roots: replaced by trustedRoot {KEYLESS_ROOT}")
                made += 1
            else:
                notes.append(f"{here}: only keys.publicKeys and keyless subject/issuer carry over "
                             "(certificates, KMS, Secret references and nested attestors do not)")
        count = attestor.get("count")
        threshold += min(int(count), made) if isinstance(count, int) and count > 0 else min(made, len(entries))
    return authorities, max(1, threshold) if authorities else 0


def _kyverno_rule(rule: Mapping[str, Any], policy_name: str, index: int, out: Converted) -> None:
    for k, verify in enumerate(rule.get("verifyImages") or []):
        if not isinstance(verify, Mapping):
            continue
        where = f"rules[{index}].verifyImages[{k}]"
        name = _name(f"{policy_name}-{rule.get('name') or index}-{k}")
        refs = [r for r in verify.get("imageReferences") or [] if isinstance(r, str)]
        if not refs:
            out.notes.append(f"{where}: no imageReferences; not carried over")
            continue
        # Kyverno's * crosses "/"; an ImagePolicy's * does not: ** keeps the meaning.
        include = [re.sub(r"(?<!\*)\*(?!\*)", "**", r) for r in refs]
        if include != refs:
            out.notes.append(f"{where}.imageReferences: * became ** (Kyverno's * crosses /)")
        authorities, threshold = _kyverno_attestors(verify.get("attestors"), "signer", where, out.notes)
        attestations = []
        for j, att in enumerate(verify.get("attestations") or []):
            if not isinstance(att, Mapping):
                continue
            ptype = att.get("predicateType") or att.get("type")
            if not ptype:
                continue
            signers, _ = _kyverno_attestors(att.get("attestors"), f"attestor{j}", f"{where}.attestations[{j}]",
                                            out.notes)
            authorities += signers
            names = [a["name"] for a in signers] or [a["name"] for a in authorities]
            attestations.append({"name": f"attestation-{j}", "predicateType": str(ptype), "authorities": names})
            if att.get("conditions"):
                out.notes.append(f"{where}.attestations[{j}].conditions: not carried over (JMESPath): write them "
                                 "as provenance rules or CEL conditions")
        if not authorities:
            out.notes.append(f"{where}: no attestor could be carried over; no policy written for it")
            continue
        spec: dict[str, Any] = {"mode": "enforce", "images": {"include": include}, "authorities": authorities}
        if threshold:
            spec["signatures"] = {"authorities": [a["name"] for a in authorities if a["name"].startswith("signer-")],
                                  "threshold": threshold}
        if attestations:
            spec["attestations"] = attestations
        if verify.get("mutateDigest") is False or verify.get("verifyDigest") is False:
            out.notes.append(f"{where}: mutateDigest/verifyDigest false: slsacheck always judges the digest and "
                             "the webhook pins it")
        out.policies.append({"apiVersion": API_VERSION, "kind": "ImagePolicy", "metadata": {"name": name},
                             "spec": spec})


def from_kyverno(doc: Mapping[str, Any]) -> Converted:
    out = Converted()
    meta = _section(doc, "metadata")
    spec = _section(doc, "spec")
    rules = [r for r in spec.get("rules") or [] if isinstance(r, Mapping)]
    for i, rule in enumerate(rules):
        if "verifyImages" in rule:
            _kyverno_rule(rule, str(meta.get("name") or "kyverno"), i, out)
        else:
            out.notes.append(f"rules[{i}] ({rule.get('name')}): not a verifyImages rule; not carried over")
    if spec.get("validationFailureAction") in ("Audit", "audit"):
        for policy in out.policies:
            policy["spec"]["mode"] = "warn"
    return out


def convert(doc: object) -> Converted:
    if not isinstance(doc, Mapping):
        raise InputError("policy convert: not a Kubernetes object", expected="a ClusterImagePolicy or a Kyverno "
                         "(Cluster)Policy", found=type(doc).__name__)
    kind, api = doc.get("kind"), str(doc.get("apiVersion") or "")
    if kind == "ClusterImagePolicy" and api.startswith("policy.sigstore.dev/"):
        return from_cluster_image_policy(doc)
    if kind in ("ClusterPolicy", "Policy") and api.startswith("kyverno.io/"):
        return from_kyverno(doc)
    raise InputError(f"policy convert: cannot convert {kind} ({api or 'no apiVersion'})",
                     expected="policy.sigstore.dev ClusterImagePolicy, or kyverno.io ClusterPolicy/Policy with "
                     "verifyImages rules", found=f"{kind} {api}")
