"""`attest --predicate` given something that is not a bare predicate.

`provenance generate` prints a whole in-toto Statement; handing that file to `attest
--predicate` must attest its predicate (not a statement nested in a statement), and only
about the digest the statement names. Already-signed evidence (a DSSE envelope, a
Sigstore bundle) and statements about other artifacts or of another predicate type are
refused with exit 2 before anything is written. Images live in an OCI layout (the
store under test is the same for every input; the registry path is covered by the
sign/attest round trips).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from slsacheck.attach import cosign_tags as ct
from slsacheck.attach.sign import attest_image
from slsacheck.cli.demo_inputs import pipeline_run
from slsacheck.errors import InputError, NotFound
from slsacheck.models import Digest
from slsacheck.models.reference import ImageRef
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from slsacheck.signing.resolve import load_signer
from tests.support.cli import Run, cli
from tests.support.keys import write_key_pairs

__all__ = ["cli"]

pytestmark = pytest.mark.integration

SLSA1 = "https://slsa.dev/provenance/v1"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_key_pairs(tmp_path_factory.mktemp("keys"), "k1")


class Layout:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.store = LayoutStore(path, create=True)

    def image(self, seed: str) -> tuple[str, Digest]:
        built = scratch.image({"hello": seed.encode()})
        scratch.push(self.store, built, tag=seed)
        return f"oci:{self.path}:{seed}", built.digest

    def attested(self, digest: Digest) -> list[dict[str, Any]]:
        """The statements in the image's .att layers (empty: none written)."""
        try:
            manifest = self.store.fetch_manifest(ct.attestation_tag(digest))
        except NotFound:
            return []
        envelopes = [json.loads(self.store.fetch_blob(d)) for d in manifest.layers]
        return [json.loads(base64.b64decode(e["payload"])) for e in envelopes]


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path / "layout")


def _provenance(cli: Callable[..., Run], workdir: Path, digest: Digest) -> Path:
    """What `provenance generate --run ... > provenance.json` writes for a run that built `digest`."""
    argv = ["provenance", "generate"]
    for name, doc in pipeline_run(str(digest), datetime.now(UTC)).items():
        (workdir / name).write_text(json.dumps(doc))
        argv += ["--run" if name == "pipelinerun.json" else "--child", str(workdir / name)]
    run = cli(*argv)
    assert run.code == 0, run.err
    out = workdir / "provenance.json"
    out.write_text(run.out)
    return out


def _attest(cli: Callable[..., Run], keys: dict[str, Path], pred: Path, image: str, *extra: str) -> Run:
    return cli("attest", "--key", str(keys["k1"]), "--predicate", str(pred), "--format", "legacy", *extra, image)


@pytest.mark.parametrize("type_flag", [(), ("--type", "slsaprovenance1"), ("--type", SLSA1)])
def test_generated_statement_attests_its_predicate(
    cli: Callable[..., Run], keys: dict[str, Path], layout: Layout, tmp_path: Path, type_flag: tuple[str, ...]
) -> None:
    image, digest = layout.image("v1")
    generated = _provenance(cli, tmp_path, digest)
    run = _attest(cli, keys, generated, image, *type_flag)
    assert run.code == 0, run.err
    (stmt,) = layout.attested(digest)
    assert stmt["predicateType"] == SLSA1
    assert stmt["predicate"] == json.loads(generated.read_text())["predicate"]
    assert "_type" not in stmt["predicate"] and "buildDefinition" in stmt["predicate"]
    assert [s["digest"] for s in stmt["subject"]] == [{"sha256": digest.hex}]
    verified = cli("verify-attestation", "--key", str(keys["k1.pub"]), "--type", "slsaprovenance1", image)
    assert verified.code == 0, verified.out


def test_statement_about_another_image_is_refused_and_nothing_written(
    cli: Callable[..., Run], keys: dict[str, Path], layout: Layout, tmp_path: Path
) -> None:
    # An attacker (or a mix-up) moves image A's provenance onto image B.
    _, a_digest = layout.image("a")
    b_image, b_digest = layout.image("b")
    provenance_of_a = _provenance(cli, tmp_path, a_digest)
    run = _attest(cli, keys, provenance_of_a, b_image)
    assert run.code == 2
    assert "about other artifacts than the image being attested" in run.err
    assert f"expected: a subject with digest {b_digest}" in run.err and a_digest.hex in run.err
    assert "hint:" in run.err and "Traceback" not in run.err
    assert layout.attested(b_digest) == []


def test_same_name_other_digest_and_other_algorithm_are_refused(
    cli: Callable[..., Run], keys: dict[str, Path], layout: Layout, tmp_path: Path
) -> None:
    image, digest = layout.image("v1")
    doc = json.loads(_provenance(cli, tmp_path, digest).read_text())
    for subject in (
        {"name": "oci", "digest": {"sha256": "0" * 64}},
        {"name": doc["subject"][0]["name"], "digest": {"sha512": "ab" * 64}},
    ):
        doc["subject"] = [subject]
        forged = tmp_path / "forged.json"
        forged.write_text(json.dumps(doc))
        run = _attest(cli, keys, forged, image)
        assert run.code == 2, run.err
        assert "about other artifacts" in run.err
    assert layout.attested(digest) == []


def test_statement_of_another_type_than_asked_is_refused(
    cli: Callable[..., Run], keys: dict[str, Path], layout: Layout, tmp_path: Path
) -> None:
    image, digest = layout.image("v1")
    generated = _provenance(cli, tmp_path, digest)
    run = _attest(cli, keys, generated, image, "--type", "vuln")
    assert run.code == 2
    assert "predicate type is not the one asked for" in run.err
    assert "expected: https://cosign.sigstore.dev/attestation/vuln/v1" in run.err and f"found: {SLSA1}" in run.err
    assert layout.attested(digest) == []


def test_v01_statement_about_the_image_is_accepted(
    cli: Callable[..., Run], keys: dict[str, Path], layout: Layout, tmp_path: Path
) -> None:
    image, digest = layout.image("v1")
    pred = tmp_path / "v01.json"
    pred.write_text(json.dumps({"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://example.com/p/v1",
                                "subject": [{"name": "x", "digest": {"sha256": digest.hex}}],
                                "predicate": {"k": "v"}}))
    assert _attest(cli, keys, pred, image).code == 0
    (stmt,) = layout.attested(digest)
    assert stmt["predicateType"] == "https://example.com/p/v1" and stmt["predicate"] == {"k": "v"}


@pytest.mark.parametrize(
    "case",
    [
        ({"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": []},
         "a DSSE envelope is not a predicate"),
        ({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": {}},
         "a Sigstore bundle is not a predicate"),
        ({"_type": "https://in-toto.io/Statement/v1", "predicateType": SLSA1, "predicate": {}},
         "looks like an in-toto Statement but is not a valid one"),
        ({"_type": "https://in-toto.io/Statement/v2", "subject": [], "predicateType": SLSA1},
         "looks like an in-toto Statement but is not a valid one"),
        ({"subject": [{"name": "x", "digest": {"sha256": "1" * 64}}], "predicateType": SLSA1, "predicate": {}},
         "looks like an in-toto Statement but is not a valid one"),
    ],
    ids=["dsse-envelope", "sigstore-bundle", "statement-without-subject", "unknown-statement-type", "no-_type"],
)
def test_wrappers_are_refused(
    cli: Callable[..., Run], keys: dict[str, Path], layout: Layout, tmp_path: Path, case: tuple[dict[str, Any], str]
) -> None:
    doc, message = case
    image, digest = layout.image("v1")
    pred = tmp_path / "wrapped.json"
    pred.write_text(json.dumps(doc))
    for type_flag in ((), ("--type", "slsaprovenance1")):
        run = _attest(cli, keys, pred, image, *type_flag)
        assert run.code == 2, run.err
        assert message in run.err and "hint:" in run.err and "Traceback" not in run.err
    assert layout.attested(digest) == []


def test_in_toto_link_is_still_a_predicate(
    cli: Callable[..., Run], keys: dict[str, Path], layout: Layout, tmp_path: Path
) -> None:
    image, digest = layout.image("v1")
    link = {"_type": "link", "name": "build", "materials": {}, "products": {}, "byproducts": {}, "command": []}
    pred = tmp_path / "link.json"
    pred.write_text(json.dumps(link))
    assert _attest(cli, keys, pred, image, "--type", "link").code == 0
    (stmt,) = layout.attested(digest)
    assert stmt["predicate"] == link


def test_library_refuses_a_statement_about_another_digest(layout: Layout, keys: dict[str, Path]) -> None:
    _, digest = layout.image("v1")
    wrapped = {"_type": "https://in-toto.io/Statement/v1", "predicateType": SLSA1,
               "subject": [{"name": "x", "digest": {"sha256": "2" * 64}}], "predicate": {}}
    signer = load_signer(str(keys["k1"]), password=lambda: b"")
    ref = ImageRef.parse(f"oci:{layout.path}:v1")
    with pytest.raises(InputError, match="about other artifacts"):
        attest_image(layout.store, ref, signer, predicate_type=SLSA1, predicate=wrapped, fmt="legacy")
    assert layout.attested(digest) == []


def test_statement_nested_in_a_statement_is_refused(
    cli: Callable[..., Run], keys: dict[str, Path], layout: Layout, tmp_path: Path
) -> None:
    """What the nesting bug wrote, read back and given again: unwrapping once would nest again."""
    image, digest = layout.image("v1")
    inner = json.loads(_provenance(cli, tmp_path, digest).read_text())
    for wrapped_predicate in (inner, {"payloadType": "application/vnd.in-toto+json", "payload": "e30=",
                                      "signatures": []}):
        outer = {**inner, "predicate": wrapped_predicate}
        pred = tmp_path / "nested.json"
        pred.write_text(json.dumps(outer))
        run = _attest(cli, keys, pred, image)
        assert run.code == 2, run.err
        assert "whose predicate is itself a Statement or signed evidence" in run.err
    assert layout.attested(digest) == []
