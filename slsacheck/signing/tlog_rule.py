"""How key-signed evidence treats a transparency-log entry it carries.

`cosign sign --key` uploads to Rekor by default, so key-signed signatures often carry a
log entry (cosign 2: the SET in the `dev.sigstore.cosign/bundle` annotation; cosign 3: a
bundle with a tlog entry). The key alone proves who signed; the entry adds when, and that
the signature is public. One rule, the same for bundles and cosign's legacy layers:

- `require`: a trust root must be given, the evidence must carry a log entry, and it
  must verify (SET or inclusion proof of a log in the root, naming this signature);
- `verify` (default): with a trust root, every entry and timestamp the evidence carries
  must verify, and evidence without one counts on the key alone; without a trust root
  nothing is log-checked (the result says so);
- `ignore`: entries and timestamps are not looked at; the key alone decides.

Keyless evidence is not governed by this rule: it always needs its log entry.
"""

from __future__ import annotations

from typing import Literal

from slsacheck.errors import InputError, VerificationError

TlogRule = Literal["require", "verify", "ignore"]
TLOG_RULES: tuple[TlogRule, ...] = ("require", "verify", "ignore")
DEFAULT_TLOG_RULE: TlogRule = "verify"


def checks_log(rule: TlogRule, *, has_root: bool, has_entry: bool, missing: VerificationError) -> bool:
    """Whether key-signed evidence's log entries and timestamps are checked under `rule`.

    `require` without a trust root is the caller's mistake (an `InputError`); `require`
    without an entry raises `missing`, the evidence format's own words for what it lacks.
    """
    if rule == "require" and not has_root:
        raise InputError("the transparency-log rule `require` needs a trust root", hint="pass --trusted-root FILE")
    if rule == "require" and not has_entry:
        raise missing
    return rule != "ignore" and has_root
