"""Where cosign keeps an image's evidence: `<repo>:sha256-<hex>.sig` and `.att`.

The read side of cosign's tag scheme, apart from the writing of layers
(`attach.cosign_tags`, which re-exports these names): verifying reads these tags and
never loads the writer.
"""

from __future__ import annotations

from slsacheck.errors import RegistryError
from slsacheck.models.digest import Digest

SIG_SUFFIX = ".sig"
ATT_SUFFIX = ".att"


class ConcurrentUpdate(RegistryError):
    """Our layer kept disappearing from a cosign tag (or a referrers index) that other
    writers were updating."""


def signature_tag(digest: Digest) -> str:
    return f"{digest.tag_form}{SIG_SUFFIX}"


def attestation_tag(digest: Digest) -> str:
    return f"{digest.tag_form}{ATT_SUFFIX}"
