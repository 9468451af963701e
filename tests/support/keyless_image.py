"""A cosign keyless `.sig` layer made with the private Sigstore, attached to an image.

The certificate comes from the private Fulcio CA for `SUBJECT`/`ISSUER`, the SET from its
Rekor key: what `cosign sign` (keyless, Rekor v1) attaches, with keys the test holds.
"""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.attach.cosign_tags import append_layers, signature_layer, signature_tag
from slsacheck.models.digest import Digest
from slsacheck.oci.store import Store
from slsacheck.signing.signer import Material, SignedMessage
from slsacheck.signing.simplesigning import build_payload
from tests.support.private_sigstore import PEM, START, PrivateSigstore, hashedrekord


def sign_keyless(store: Store, name: str, digest: Digest, sigstore: PrivateSigstore) -> None:
    """Attach a keyless signature of `name@digest` to `store`'s `.sig` tag."""
    payload = build_payload(name, digest)
    signed_at = START + dt.timedelta(days=1)
    key, cert = sigstore.leaf(signed_at)
    signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    rekor = sigstore.rekor_set(hashedrekord(signature, payload, cert), signed_at + dt.timedelta(seconds=5))
    material = Material(certificate=cert.public_bytes(PEM), chain=sigstore.ca.public_bytes(PEM), rekor_bundle=rekor)
    append_layers(store, signature_tag(digest), [signature_layer(SignedMessage(payload, signature, material))])
