"""Sign an image and attest a predicate about it with a cosign key, as `slsacheck sign` and
`slsacheck attest` do.

    COSIGN_PASSWORD=... python examples/sign_and_attest.py IMAGE KEY PREDICATE_TYPE_URI PREDICATE.json

The image is resolved to its digest first; the signature and the attestation are about that
digest (never the tag), in cosign's `.sig`/`.att` tags and as Sigstore bundle referrers.
"""

from __future__ import annotations

import json
import os
import sys

import slsacheck


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    image, key, predicate_type, predicate_file = argv
    try:
        ref = slsacheck.ImageRef.parse(image)
        store = slsacheck.open_store(ref)
        signer = slsacheck.load_signer(key, password=lambda: os.environ.get("COSIGN_PASSWORD", "").encode())
        with open(predicate_file, encoding="utf-8") as handle:
            predicate = json.load(handle)
        for signed in slsacheck.sign_image(store, ref, signer):
            print(f"signed {signed.digest}")
        attested = slsacheck.attest_image(store, ref, signer, predicate_type=predicate_type, predicate=predicate)
        print(f"attested {attested.digest} ({predicate_type})")
    except slsacheck.Error as exc:
        print(f"error: {exc.diagnostics()}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
