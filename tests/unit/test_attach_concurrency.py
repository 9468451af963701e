"""Signers in several processes appending to one OCI layout keep every signature.

The `.sig` tag is read, merged and written back; on a layout that whole sequence runs
under the layout's cross-process writer lock, so no signer's layer is lost.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from slsacheck.signing.keys import generate_key_pair

SIGNERS = 4
ROUNDS = 3


def test_concurrent_signers_on_a_layout_keep_every_signature(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    store = LayoutStore(layout, create=True)
    built = scratch.image({"hello.txt": b"concurrent signers\n"})
    digest = scratch.push(store, built, tag="app").digest
    keys = []
    for i in range(SIGNERS):
        private, _ = generate_key_pair(b"", scrypt_n=2**15)
        path = tmp_path / f"k{i}.key"
        path.write_bytes(private)
        keys.append(path)
    slsacheck = Path(sys.executable).with_name("slsacheck")
    env = {**os.environ, "COSIGN_PASSWORD": ""}
    script = " ; ".join(
        [f'"{slsacheck}" sign --key "$1" --format legacy oci:{layout}:app >/dev/null || exit 1'] * ROUNDS
    )
    workers = [
        subprocess.Popen(["sh", "-c", script, "sign", str(key)], env=env, stderr=subprocess.PIPE, text=True)
        for key in keys
    ]
    errors = [w.communicate(timeout=240)[1] for w in workers]
    assert [w.returncode for w in workers] == [0] * SIGNERS, errors

    sig = store.fetch_manifest(f"{digest.tag_form}.sig")
    # ECDSA signatures are randomised: every run adds a distinct layer, none may be lost.
    assert len(sig.layers) == SIGNERS * ROUNDS
    assert len({layer.annotations["dev.cosignproject.cosign/signature"] for layer in sig.layers}) == SIGNERS * ROUNDS
    assert store.resolve("app").digest == digest
