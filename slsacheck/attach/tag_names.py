"""Where cosign keeps an image's evidence: `<repo>:sha256-<hex>.sig` and `.att`, and
Sigstore bundles as OCI 1.1 referrers.

The read side, apart from the writers (`attach.cosign_tags` and `attach.referrers`, which
re-export these names): verifying reads these places and never loads a writer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from slsacheck.errors import RegistryError
from slsacheck.models import mediatypes as mt
from slsacheck.models.digest import Digest

if TYPE_CHECKING:
    from slsacheck.models.descriptor import Descriptor
    from slsacheck.oci.store import Store

SIG_SUFFIX = ".sig"
ATT_SUFFIX = ".att"


class ConcurrentUpdate(RegistryError):
    """Our layer kept disappearing from a cosign tag (or a referrers index) that other
    writers were updating."""


def signature_tag(digest: Digest) -> str:
    return f"{digest.tag_form}{SIG_SUFFIX}"


def attestation_tag(digest: Digest) -> str:
    return f"{digest.tag_form}{ATT_SUFFIX}"


def list_bundles(store: Store, subject: Digest) -> list[Descriptor]:
    """Every referrer of `subject` that is a Sigstore bundle (API or fallback tag)."""
    return [
        d
        for d in store.referrers(subject, artifact_type=mt.SIGSTORE_BUNDLE_V03)
        if (d.artifact_type or mt.SIGSTORE_BUNDLE_V03) == mt.SIGSTORE_BUNDLE_V03
    ]
