"""Judge images against ImagePolicy files, as `slsacheck verify --policy` does, and print
every check with what was expected and found.

    python examples/gate_with_policies.py POLICY.yaml[,POLICY.yaml...] IMAGE...

Exit 0 when every image passes, 1 when one fails, 3 when one could not be verified
(never a pass), 2 for a policy or reference that does not load.
"""

from __future__ import annotations

import sys

import slsacheck


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        policies = slsacheck.load_policies(argv[0].split(","))
        refs = [slsacheck.ImageRef.parse(text) for text in argv[1:]]
    except slsacheck.Error as exc:
        print(f"error: {exc.diagnostics()}", file=sys.stderr)
        return exc.exit_code
    verdicts = slsacheck.verify_images(refs, policies)
    for verdict in verdicts:
        print(f"{verdict.image} ({verdict.digest}): {verdict.outcome}")
        for check in verdict.checks:
            print(f"  {check.outcome.value:5} {check.id}")
        for reason in verdict.incomplete:
            print(f"  could not verify: {reason}")
    if any(v.outcome == "error" for v in verdicts):
        return 3
    return 0 if all(v.passed for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
