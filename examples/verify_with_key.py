"""Is this image signed (or attested) with this key?

    python examples/verify_with_key.py IMAGE PUBLIC_KEY [PREDICATE_TYPE]

IMAGE is `registry/repo:tag`, `registry/repo@sha256:...` or `oci:DIR[:TAG]`; PUBLIC_KEY a PEM
file (cosign.pub). With PREDICATE_TYPE (`slsaprovenance1`, `vuln`, or a URI) an attestation
of that type must verify instead of a signature. Exit 0 verified, 1 not, 2 bad input,
3 could not complete (registry unreachable, ...): the same codes as `slsacheck verify`.
"""

from __future__ import annotations

import sys

import slsacheck


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    image, key = argv[0], argv[1]
    try:
        verdict = slsacheck.verify_with_key(image, key, attestation_type=argv[2] if len(argv) == 3 else None)
    except slsacheck.Error as exc:  # a reference or key that cannot be read
        print(f"error: {exc.diagnostics()}", file=sys.stderr)
        return exc.exit_code
    print(f"{image} is {verdict.digest or '(not resolved)'}: {verdict.outcome}")
    for check in verdict.checks:
        print(f"  {check.outcome.value:5} {check.id}: expected {check.expected}; found {check.found}")
    for reason in verdict.incomplete:  # could not complete: never a pass
        print(f"  could not verify: {reason}")
    if verdict.passed:
        return 0
    return 3 if verdict.outcome == "error" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
