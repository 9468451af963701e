"""The inventory's text line for an image whose provenance states no builder: words, not None."""

from __future__ import annotations

from slsacheck.audit.report.text import image_line


def _record(builder: object) -> dict[str, object]:
    provenance = {"builder": builder, "buildType": "https://tekton.dev/chains/v2/slsa"}
    return {"image": "registry.example.com/team/app:1", "digest": "sha256:" + "a" * 64, "outcome": "inventory",
            "evidence": {"signatures": [], "attestations": [{"verified": True, "provenance": provenance}],
                         "provenance": provenance}}


def test_a_provenance_without_builder_reads_none_stated() -> None:
    line = image_line(_record(None))
    assert "builder (none stated)" in line and "None" not in line


def test_a_builder_id_is_shown_as_it_is() -> None:
    assert "builder https://tekton.dev/chains/v2" in image_line(_record("https://tekton.dev/chains/v2"))
