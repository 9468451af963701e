"""Find the data that ships with slsacheck (`schemas/`, `policies/`).

In a wheel they live under `slsacheck/_data/`; in a checkout (editable install or
`python -m slsacheck` from the source tree) they are at the top of the repository.
"""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from slsacheck.errors import Error


def data_dir(name: str) -> Traversable:
    """The shipped folder `name` (`schemas` or `policies`)."""
    packaged = resources.files("slsacheck") / "_data" / name
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / name
    if checkout.is_dir():
        return checkout
    raise Error(
        f"slsacheck's {name}/ folder is missing",
        expected=f"{packaged} or {checkout}",
        found="neither",
        hint="reinstall slsacheck; the wheel ships schemas/ and policies/",
    )


def read_text(folder: str, filename: str) -> str:
    return (data_dir(folder) / filename).read_text(encoding="utf-8")
