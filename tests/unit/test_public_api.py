"""The public API resolves, and start-up imports stay light (no timing: module sets)."""

from __future__ import annotations

import ast
import builtins
import importlib
import json
import pkgutil
import subprocess
import sys
import types
from pathlib import Path

import slsacheck
import slsacheck.errors

HEAVY = (
    "sigstore", "requests", "jsonschema", "google.protobuf", "cryptography", "yaml", "celpy", "cel_expr_python", "nacl",
)


def test_every_exported_name_resolves() -> None:
    for name in slsacheck.__all__:
        assert getattr(slsacheck, name) is not None, name
    assert isinstance(slsacheck.__version__, str)


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


def _heavy(loaded: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in names))


def test_offline_bundle_verification_loads_only_what_it_uses() -> None:
    # verify-bundle runs once per step: cryptography primitives, not sigstore-python; the
    # timestamp parser and libsodium only when the bundle or key needs them.
    loaded = _modules_after("import slsacheck.cli.bundle_commands\nimport slsacheck.signing.bundle")
    unused = tuple(h for h in (*HEAVY, "rfc3161_client") if h != "cryptography")
    assert not _heavy(loaded, unused)


def test_policy_loading_loads_no_signing_client() -> None:
    loaded = _modules_after("import slsacheck.policy.load\nimport slsacheck.policy.evaluate")
    assert not _heavy(loaded, ("sigstore", "requests", "nacl", "rfc3161_client", "celpy"))
    assert "cel_expr_python.cel" in loaded  # conditions compile at load


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        slsacheck.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


# -- the export table ------------------------------------------------------------------


def test_all_is_the_export_table() -> None:
    table = slsacheck._EXPORTS
    assert len(slsacheck.__all__) == len(set(slsacheck.__all__))
    assert set(slsacheck.__all__) == {"__version__", *table}


def test_type_checking_imports_are_the_export_table() -> None:
    """The imports type checkers see name exactly what the table loads at run time."""
    tree = ast.parse(Path(slsacheck.__file__).read_text())
    (block,) = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]
    seen = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.module is not None
        for alias in node.names:
            seen[alias.asname or alias.name] = (node.module, alias.name)
    assert seen == slsacheck._EXPORTS


def test_each_export_is_the_object_its_table_entry_names_and_is_callable() -> None:
    for name, (module, attribute) in slsacheck._EXPORTS.items():
        value = getattr(slsacheck, name)
        assert value is getattr(importlib.import_module(module), attribute), name
        assert callable(value), name
        assert not isinstance(value, types.ModuleType), name


def test_error_families_are_exported_under_one_root() -> None:
    families = [obj for name, obj in vars(slsacheck.errors).items()
                if isinstance(obj, type) and issubclass(obj, slsacheck.errors.Error)]
    for family in families:
        assert getattr(slsacheck, family.__name__) is family
        assert issubclass(getattr(slsacheck, family.__name__), slsacheck.Error)


def _submodules(package: types.ModuleType) -> set[str]:
    return {info.name for info in pkgutil.iter_modules(package.__path__)}


def _packages() -> list[types.ModuleType]:
    found = [slsacheck]
    for info in pkgutil.walk_packages(slsacheck.__path__, "slsacheck."):
        if info.ispkg:
            found.append(importlib.import_module(info.name))
    return found


def test_no_public_name_is_also_a_submodule() -> None:
    """`package.X` must not be a function or a module depending on what was imported first."""
    for package in _packages():
        exported = set(getattr(package, "__all__", ())) | set(getattr(package, "_EXPORTS", {}))
        clash = exported & _submodules(package)
        assert not clash, f"{package.__name__} exports {sorted(clash)}, also the names of its modules"


_STABLE = """
import importlib, json, pkgutil, sys, types
import slsacheck
if sys.argv[1] == "everything-first":
    for info in pkgutil.walk_packages(slsacheck.__path__, "slsacheck."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
import slsacheck.promote, slsacheck.provenance.generate
from slsacheck import promote_image
names = {}
for name in slsacheck._EXPORTS:
    value = getattr(slsacheck, name)
    names[name] = "module" if isinstance(value, types.ModuleType) else f"{value.__module__}.{value.__qualname__}"
print(json.dumps({
    "exports": names,
    "promote_image": type(promote_image).__name__,
    "slsacheck.promote": type(slsacheck.promote).__name__,
    "slsacheck.promote.promote": type(slsacheck.promote.promote).__name__,
    "slsacheck.provenance.generate": type(slsacheck.provenance.generate).__name__,
}))
"""


def test_public_names_do_not_depend_on_import_order() -> None:
    results = []
    for order in ("table-first", "everything-first"):
        proc = subprocess.run([sys.executable, "-c", _STABLE, order], check=True, capture_output=True, text=True)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    first, second = results
    assert first == second
    assert "module" not in first["exports"].values()
    assert first["exports"]["promote_image"] == "slsacheck.promote.promotion.promote"
    assert first["exports"]["generate_provenance"] == "slsacheck.provenance.generate.generate"
    assert {k: v for k, v in first.items() if k != "exports"} == {
        "promote_image": "function", "slsacheck.promote": "module", "slsacheck.promote.promote": "function",
        "slsacheck.provenance.generate": "module"}


def test_renamed_provenance_warning_keeps_its_old_name() -> None:
    from slsacheck import provenance
    from slsacheck.provenance.findings import Finding

    assert provenance.Finding is Finding and provenance.Warning is Finding
    assert "Warning" not in provenance.__all__ and "Finding" in provenance.__all__
    assert Finding is not builtins.Warning
