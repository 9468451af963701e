"""An error as one line of reason, for a rejected candidate or a refused authority (pure).

A verdict lists why each signature or attestation did not count, often many of them, so
a reason is one line: the message with expected vs found (`str(Error)`), and every key
fingerprint cut to its first 16 hex digits (enough to tell keys apart, short enough to
read in a list).
"""

from __future__ import annotations

import re

from slsacheck.errors import Error

_KEY_ID = re.compile(r"(key sha256:[0-9a-f]{16})[0-9a-f]{48}")


def one_line(exc: Error) -> str:
    """One line: the message, expected vs found, with key fingerprints shortened."""
    return _KEY_ID.sub(r"\1", str(exc))
