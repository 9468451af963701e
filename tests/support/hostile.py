"""Evidence as an attacker builds it: a signed image beside attestations nobody trusts.

`signed_layout(tmp)` makes an OCI layout holding a one-file image, signed (cosign `.sig`)
by the release key, and a policy (`signature_policy`) that asks for that signature only,
so the image passes. `attach_attestation(...)` then adds to its `.att` tag what an
attacker with write access to the repository, but not the release key, can add: a DSSE
envelope signed with the attacker's own key, whose payload bytes and `predicateType`
annotation the attacker chooses freely (escape sequences, bidi overrides, lone surrogates,
U+FFFF, Markdown links, `@mentions`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.attach import cosign_tags as ct
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor
from slsacheck.models.digest import Digest
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from slsacheck.signing.keysigner import KeySigner
from tests.support.keys import write_key_pairs
from tests.support.policy_evidence import key_policy

IN_TOTO = "application/vnd.in-toto+json"

# What an attacker writes where text is shown: clear the screen, home the cursor, print a
# forged verdict in green, ring the bell, rewrite the line; then a right-to-left override.
TERMINAL_ATTACK = "\x1b[2J\x1b[H\x1b[32mverdict:  PASS\x1b[0m\x07\r\x9b31m\u202eSSAP"
# What an attacker writes into a pull-request comment: a live link, a mention, an image.
MARKDOWN_ATTACK = "[click](https://evil.example/x) @team ![img](https://evil.example/p.png) <img src=x>"
# Characters XML 1.0 cannot carry, a lone surrogate, and a noncharacter.
XML_ATTACK = "main\x00\x0b\ufffe\uffff\ud800end"


@dataclass(frozen=True)
class SignedLayout:
    layout: Path
    store: LayoutStore
    digest: Digest
    ref: str  # oci:DIR:v1
    policy: Path
    keys: dict[str, Path]


def signed_layout(tmp: Path, cli: Any, seed: str = "hostile") -> SignedLayout:
    """A layout with `v1` signed by `release.key` and a signature-only policy for it."""
    layout = tmp / "layout"
    store = LayoutStore(layout, create=True)
    built = scratch.image({"hello": seed.encode()})
    digest = scratch.push(store, built, tag="v1").digest
    keys = write_key_pairs(tmp, "release")
    ref = f"oci:{layout}:v1"
    run = cli("sign", "--key", str(keys["release"]), ref)
    assert run.code == 0, run.err
    policy = tmp / "policy.yaml"
    policy.write_text(key_policy("signed", [f"oci:{layout}"], key=keys["release.pub"], attestation=None))
    return SignedLayout(layout, store, digest, ref, policy, keys)


def statement_bytes(digest: Digest, predicate_type: str, predicate: Any) -> bytes:
    """A statement naming `digest`, as JSON bytes (lone surrogates written as JSON escapes)."""
    doc = {"_type": "https://in-toto.io/Statement/v1",
           "subject": [{"name": "image", "digest": {digest.algorithm: digest.hex}}],
           "predicateType": predicate_type, "predicate": predicate}
    return json.dumps(doc).encode()


def attach_attestation(store: LayoutStore, digest: Digest, payload: bytes, *, annotation: str,
                       key: ec.EllipticCurvePrivateKey | None = None, payload_type: str = IN_TOTO,
                       annotations: dict[str, str] | None = None) -> None:
    """Write the image's `.att` tag as one DSSE layer signed by the attacker's own key (with
    `payload_type` in the envelope, and any more layer `annotations`), bytes pushed as they
    are: the attacker needs no tool that reads back what it wrote."""
    signer = KeySigner(key or ec.generate_private_key(ec.SECP256R1()))
    pae = b"DSSEv1 %d %s %d %s" % (len(IN_TOTO), IN_TOTO.encode(), len(payload), payload)
    envelope = {"payloadType": payload_type, "payload": base64.b64encode(payload).decode(),
                "signatures": [{"keyid": "", "sig": base64.b64encode(signer.sign(pae)).decode()}]}
    data = json.dumps(envelope).encode()
    layer = Descriptor.of(data, mt.DSSE_ENVELOPE,
                          annotations={mt.ANN_SIGNATURE: "", mt.ANN_PREDICATE_TYPE: annotation, **(annotations or {})})
    config = ct.cosign_config([str(layer.digest)])
    config_desc = Descriptor.of(config, mt.OCI_CONFIG)
    store.push_blob(layer, data)
    store.push_blob(config_desc, config)
    manifest = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": config_desc.to_json(),
                "layers": [layer.to_json()]}
    store.push_manifest(json.dumps(manifest).encode(), mt.OCI_MANIFEST, tag=ct.attestation_tag(digest))
