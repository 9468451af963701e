"""Looking inside an OCI layout directory, for the LayoutStore tests.

`store` (a pytest fixture: test modules import it by name) is an empty `LayoutStore` in the
test's temporary directory; `index_json` reads a layout's index.json as it is on disk and
`blob_file` is where a blob's bytes lie, so that tests can check or damage them directly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from slsacheck.models import Digest
from slsacheck.oci.layout import LayoutStore


def index_json(path: Path) -> dict[str, Any]:
    """The layout's index.json, parsed."""
    doc: dict[str, Any] = json.loads((path / "index.json").read_bytes())
    return doc


def blob_file(path: Path, digest: Digest) -> Path:
    """The file that holds the blob `digest` in the layout at `path`."""
    return path / "blobs" / digest.algorithm / digest.hex


@pytest.fixture
def store(tmp_path: Path) -> LayoutStore:
    return LayoutStore(tmp_path / "layout", create=True)
