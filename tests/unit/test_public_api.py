"""The public API resolves, and start-up imports stay light (no timing: module sets)."""

from __future__ import annotations

import json
import subprocess
import sys

import slsacheck

HEAVY = ("sigstore", "requests", "jsonschema", "google.protobuf", "cryptography", "yaml", "celpy", "nacl")


def test_every_exported_name_resolves() -> None:
    for name in slsacheck.__all__:
        assert getattr(slsacheck, name) is not None, name


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        check=True,
        capture_output=True,
        text=True,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_and_help_load_no_heavy_dependency() -> None:
    for code in (
        "import slsacheck",
        "import slsacheck.cli as c\ntry:\n    c.main(['--help'])\nexcept SystemExit:\n    pass",
    ):
        loaded = _modules_after(code)
        heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
        assert not heavy, f"{code!r} loaded {heavy}"


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        slsacheck.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
