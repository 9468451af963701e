"""Starting policies: a commented ImagePolicy written for the user's images and signer, and
the shipped policies copied out of the installed package.

After `pip install`, the shipped `policies/` live inside the package where nobody looks;
`policy init --from NAME` hands one over with the files it names (keys, trust roots) so
the user knows what to put beside it. Pure text in, text out: the CLI writes the files.
Everything this module writes loads with `slsacheck.policy.load` (a test holds it to that).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass

from slsacheck import _resources, _yaml
from slsacheck.errors import InputError
from slsacheck.policy.yamlsource import POLICY_LIMITS


@dataclass(frozen=True)
class KeySigner:
    """Signed with a key: the public key file, as the policy will name it (relative to it)."""

    public_key: str


@dataclass(frozen=True)
class KeylessSigner:
    """Signed keyless: an OIDC issuer and a subject (exact or a full-match regexp)."""

    issuer: str
    subject: str
    subject_is_regexp: bool
    trusted_root: str


Signer = KeySigner | KeylessSigner


def _q(text: str) -> str:
    # JSON strings are YAML strings: quoting this way never needs YAML's escaping rules.
    return json.dumps(text, ensure_ascii=False)


def _authority(signer: Signer) -> list[str]:
    match signer:
        case KeySigner(public_key):
            return [
                "    - name: release-key",
                "      key:",
                f"        file: {_q(public_key)}      # relative to this file; or pem: / env:",
            ]
        case KeylessSigner(issuer, subject, is_regexp, trusted_root):
            field = "subjectRegExp" if is_regexp else "subject"
            return [
                "    - name: release-keyless",
                "      keyless:",
                f"        trustedRoot: {_q(trusted_root)}   # the Sigstore trusted_root.json, read offline",
                "        identities:",
                f"          - issuer: {_q(issuer)}",
                f"            {field}: {_q(subject)}",
                "        requireTlog: true            # a Rekor entry must verify",
            ]


def starter(name: str, images: list[str], signer: Signer) -> str:
    """A commented ImagePolicy: `images` must be signed by `signer`; provenance and
    vulnerability rules are there, commented out, to switch on when the pipeline makes them."""
    if not images:
        raise InputError("policy init needs the images the policy judges", expected="--image PATTERN (repeatable)",
                         hint="e.g. --image 'registry.example.com/team/**' (** crosses /, * does not)")
    authority = "release-key" if isinstance(signer, KeySigner) else "release-keyless"
    include = ", ".join(_q(i) for i in images)
    lines = [
        "# Written by `slsacheck policy init`. Check it, then read what it demands:",
        "#   slsacheck policy lint FILE && slsacheck policy explain FILE",
        "# Try it offline on a statement before deploying it: slsacheck policy test FILE --statement S.json",
        "apiVersion: slsacheck.dev/v1alpha1",
        "kind: ImagePolicy",
        "metadata:",
        f"  name: {_q(name)}",
        "spec:",
        "  mode: enforce                      # warn: report failures without denying",
        "  images:                            # ** crosses \"/\", * does not",
        f"    include: [{include}]",
        "",
        "  authorities:                       # who may sign; named below",
        *_authority(signer),
        "",
        "  signatures:                        # a signature on the image itself",
        f"    authorities: [{authority}]",
        "    threshold: 1",
        "",
        "  # Switch on when the pipeline attests SLSA provenance (slsacheck provenance attest):",
        "  # attestations:",
        "  #   - name: provenance",
        "  #     predicateType: slsaprovenance1",
        f"  #     authorities: [{authority}]",
        "  #     provenance:",
        "  #       builderIds: [\"https://tekton.dev/chains/v2\"]",
        "  #       source:",
        "  #         repositories: [\"git+https://github.com/your-org/*\"]",
        "  #         refs: [\"refs/heads/main\", \"refs/tags/v*\"]",
        "  #         requireCommit: true",
        "  #       maxAge: 168h",
        "",
    ]
    return "\n".join(lines)


def shipped_names() -> list[str]:
    return sorted(e.name.removesuffix(".yaml") for e in _resources.data_dir("policies").iterdir()
                  if e.name.endswith(".yaml"))


@dataclass(frozen=True)
class Shipped:
    """A shipped policy's text and the files it names, relative to itself."""

    name: str
    text: str
    files: tuple[str, ...]


def shipped(name: str) -> Shipped:
    names = shipped_names()
    wanted = name.removesuffix(".yaml")
    if wanted not in names:
        close = difflib.get_close_matches(wanted, names, n=1)
        raise InputError(
            f"--from {name}: no such shipped policy",
            expected="one of " + ", ".join(names),
            found=name,
            hint=f"did you mean {close[0]}?" if close else "pick one of the names above",
        )
    text = _resources.read_text("policies", f"{wanted}.yaml")
    docs = _yaml.load_all(text, POLICY_LIMITS)
    return Shipped(wanted, text, _named_files(docs[0] if docs else None))


def _named_files(doc: object) -> tuple[str, ...]:
    """The key files and trust roots a policy reads (what must sit beside it)."""
    files: list[str] = []
    spec = doc.get("spec") if isinstance(doc, dict) else None
    authorities = spec.get("authorities") if isinstance(spec, dict) else None
    for authority in authorities if isinstance(authorities, list) else []:
        if not isinstance(authority, dict):
            continue
        for section, field in (("key", "file"), ("keyless", "trustedRoot"), ("key", "trustedRoot")):
            value = authority.get(section, {}).get(field) if isinstance(authority.get(section), dict) else None
            if isinstance(value, str) and value not in files:
                files.append(value)
    return tuple(files)
