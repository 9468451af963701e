"""Text an attacker writes into evidence reaches no terminal, report or comment raw.

The evidence is built as an attacker builds it (`tests.support.hostile`): beside an image
signed by the release key, an attestation signed by the attacker's own key, whose
`predicateType` annotation and builder id carry escape sequences, bidi overrides, a forged
"verdict: PASS", Markdown links, mentions and images, characters XML cannot carry and a
lone surrogate; and provenance signed by the release key itself (a build that recorded a
hostile branch) whose builder id fails the policy, so that the hostile text lands in a
check's `found`. Every output is read back with a real parser.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from slsacheck._display import UNSAFE
from slsacheck.models import mediatypes as mt
from tests.support.cli import Cli, cli
from tests.support.hostile import (
    MARKDOWN_ATTACK,
    TERMINAL_ATTACK,
    XML_ATTACK,
    SignedLayout,
    attach_attestation,
    signed_layout,
    statement_bytes,
)
from tests.support.policy_evidence import key_policy

__all__ = ["cli"]

SLSA1 = "https://slsa.dev/provenance/v1"
GOOD_BUILDER = "https://builder.example/good"
HOSTILE = TERMINAL_ATTACK + MARKDOWN_ATTACK + XML_ATTACK
# The same, as text the release key will sign: no lone surrogate (attest refuses it, below).
SIGNABLE = (TERMINAL_ATTACK + MARKDOWN_ATTACK + XML_ATTACK).replace("\ud800", "")
FORMATS = ("text", "json", "junit", "sarif", "markdown", "html")


def _predicate(builder: str, branch: str) -> dict[str, Any]:
    return {"buildDefinition": {"buildType": "https://tekton.dev/chains/v2/slsa",
                                "externalParameters": {"branch": branch}},
            "runDetails": {"builder": {"id": builder}}}


@pytest.fixture
def hostile(tmp_path: Path, cli: Cli) -> SignedLayout:
    layout = signed_layout(tmp_path, cli)
    payload = statement_bytes(layout.digest, SLSA1, _predicate(HOSTILE, HOSTILE))
    attach_attestation(layout.store, layout.digest, payload, annotation=HOSTILE)
    return layout


@pytest.fixture
def signed_hostile(hostile: SignedLayout, tmp_path: Path, cli: Cli) -> Path:
    """Provenance signed by the release key, recording a hostile builder id and branch;
    a policy that wants the good builder (so the hostile id is the check's `found`)."""
    predicate = tmp_path / "predicate.json"
    predicate.write_text(json.dumps(_predicate(SIGNABLE, SIGNABLE)))
    run = cli("attest", "--key", str(hostile.keys["release"]), "--predicate", str(predicate), "--type", SLSA1,
              hostile.ref)
    assert run.code == 0, run.err
    policy = tmp_path / "strict.yaml"
    policy.write_text(key_policy("strict", [f"oci:{hostile.layout}"], key=hostile.keys["release.pub"],
                                 attestation=SLSA1, builder_ids=[GOOD_BUILDER]))
    return policy


def _clean(text: str) -> None:
    """Nothing but line breaks and tabs among the control and format characters."""
    found = {c for c in UNSAFE.findall(text) if c not in "\n\t"}
    assert not found, sorted(f"U+{ord(c):04X}" for c in found)


# -- terminals ------------------------------------------------------------------------------


def test_verify_text_cannot_be_forged_by_an_untrusted_attestation(hostile: SignedLayout, tmp_path: Path,
                                                                 cli: Cli) -> None:
    policy = tmp_path / "needs-att.yaml"
    policy.write_text(key_policy("needs-att", [f"oci:{hostile.layout}"], key=hostile.keys["release.pub"],
                                 attestation=SLSA1))
    run = cli("verify", "--policy", str(policy), hostile.ref)
    assert run.code == 1
    _clean(run.out + run.err)
    assert [line for line in run.out.splitlines() if line.startswith("verdict:")] == ["verdict:  FAIL"]
    # The rejected attestation is named by where it was found, not by what it claims to be.
    rejected = [line for line in run.out.splitlines() if "rejected" in line]
    assert rejected and not any("SSAP" in line or "evil.example" in line for line in rejected)


@pytest.mark.parametrize("argv", [
    ("verify", "--policy", "{policy}", "{ref}"),
    ("verify", "--policy", "{policy}", "--output", "json", "{ref}"),
    ("verify", "--policy", "{strict}", "{ref}"),
    ("audit", "--policy", "{strict}", "--format", "text", "{ref}"),
    ("audit", "--format", "text", "{ref}"),  # inventory: the unsigned builder id is shown
    ("inspect", "{ref}"),
    ("inspect", "--output", "json", "{ref}"),
    ("verify", "--key", "{key}", "{ref}"),
    ("verify-attestation", "--key", "{key}", "--type", SLSA1, "{ref}"),
    ("policy", "explain", "{strict}"),
])
def test_no_command_prints_a_control_character_from_evidence(hostile: SignedLayout, signed_hostile: Path,
                                                            cli: Cli, argv: tuple[str, ...]) -> None:
    args = [a.format(policy=hostile.policy, strict=signed_hostile, ref=hostile.ref, key=hostile.keys["release.pub"])
            for a in argv]
    run = cli(*args)
    assert run.code in (0, 1), run.err
    _clean(run.out + run.err)
    if "json" in args:
        json.loads(run.out)  # the guard keeps JSON valid: escapes are JSON's own


def test_the_hostile_text_is_still_visible_escaped(hostile: SignedLayout, signed_hostile: Path, cli: Cli) -> None:
    run = cli("verify", "--policy", str(signed_hostile), hostile.ref)
    assert run.code == 1
    assert "\\u001b[2J" in run.out and "\\u202e" in run.out  # the reader sees what was there


# -- reports --------------------------------------------------------------------------------


@pytest.fixture
def reports(hostile: SignedLayout, signed_hostile: Path, tmp_path: Path, cli: Cli) -> dict[str, str]:
    out = tmp_path / "reports"
    argv = ["audit", "--policy", str(signed_hostile), "--output", f"{out}/", "--quiet", hostile.ref]
    for fmt in FORMATS:
        argv += ["--format", fmt]
    run = cli(*argv)
    assert run.code == 1, run.err  # the builder id fails the policy: a failure, not an error
    suffix = {"text": "txt", "json": "json", "junit": "junit.xml", "sarif": "sarif", "markdown": "md",
              "html": "html"}
    return {fmt: (out / f"audit.{suffix[fmt]}").read_bytes().decode("utf-8") for fmt in FORMATS}


def test_junit_parses_and_reports_the_failure(reports: dict[str, str]) -> None:
    root = ET.fromstring(reports["junit"].encode())
    failures = root.findall(".//failure")
    assert int(root.get("failures") or 0) == len(failures) >= 1
    text = "".join(f.text or "" for f in failures)
    assert "\\uffff" in text and "\\u0000" in text  # what XML cannot carry, shown escaped


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_json_reports_parse_with_no_lone_surrogate(reports: dict[str, str], fmt: str) -> None:
    doc = json.loads(reports[fmt])
    strings: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(k)
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(doc)
    assert all(s.encode("utf-8") for s in strings)  # encodable: no lone surrogate survived
    if fmt == "sarif":
        assert doc["runs"][0]["results"], "the failure is a SARIF result"


def test_html_parses_with_no_live_markup_from_evidence(reports: dict[str, str]) -> None:
    tags: list[str] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            tags.append(tag)
            for _, value in attrs:
                assert "evil.example" not in (value or "") or tag == "tbody"  # data-* filter text only

    Collect().feed(reports["html"])
    assert "img" not in tags and "a" not in tags
    _clean(reports["html"])


def test_markdown_has_no_link_image_mention_or_html_from_evidence(reports: dict[str, str]) -> None:
    md = reports["markdown"]
    _clean(md)
    rendered = MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
    assert "<a " not in rendered and "<img" not in rendered
    # Every @mention and URL the attacker wrote sits inside a <code> element.
    outside = rendered
    while "<code>" in outside:
        start = outside.index("<code>")
        outside = outside[:start] + outside[outside.index("</code>", start) + len("</code>"):]
    assert "@team" not in outside and "evil.example" not in outside
    assert "unverified claim" not in md  # the summary speaks of the provenance that verified


def test_text_report_is_clean(reports: dict[str, str]) -> None:
    _clean(reports["text"])


# -- odd Unicode ----------------------------------------------------------------------------


def test_a_lone_surrogate_in_unsigned_evidence_does_not_turn_a_pass_into_an_error(
        hostile: SignedLayout, cli: Cli, tmp_path: Path) -> None:
    verify = cli("verify", "--policy", str(hostile.policy), hostile.ref)
    assert verify.code == 0, verify.err
    out = tmp_path / "reports"
    argv = ["audit", "--policy", str(hostile.policy), "--output", f"{out}/", "--quiet", hostile.ref]
    for fmt in FORMATS:
        argv += ["--format", fmt]
    audit = cli(*argv)
    assert audit.code == 0, audit.out + audit.err
    assert "Traceback" not in audit.err
    assert json.loads((out / "audit.json").read_text())["images"][0]["outcome"] == "pass"
    inventory = cli("audit", "--format", "json", hostile.ref)
    assert inventory.code == 0 and json.loads(inventory.out)["images"][0]["outcome"] == "inventory"


def test_attest_refuses_a_predicate_with_a_lone_surrogate(hostile: SignedLayout, cli: Cli, tmp_path: Path) -> None:
    predicate = tmp_path / "odd.json"
    predicate.write_text('{"branch": "main\\ud800"}')
    run = cli("attest", "--key", str(hostile.keys["release"]), "--predicate", str(predicate), hostile.ref)
    assert run.code == 2, run.err
    assert run.err.startswith("error: ") and "lone surrogate" in run.err and "Traceback" not in run.err
    assert "\ud800" not in run.err


@pytest.mark.parametrize("output", ["text", "json"])
def test_promote_of_a_passing_image_is_not_upset_by_hostile_unsigned_evidence(
        hostile: SignedLayout, cli: Cli, tmp_path: Path, output: str) -> None:
    record = tmp_path / "record.json"
    policy = tmp_path / "both.yaml"
    policy.write_text(key_policy("both", [f"oci:{hostile.layout}", f"oci:{tmp_path / 'dst'}"],
                                 key=hostile.keys["release.pub"], attestation=None))
    run = cli("promote", "--policy", str(policy), hostile.ref, f"oci:{tmp_path / 'dst'}:v1",
              "--record", str(record), "--attest-record", "--key", str(hostile.keys["release"]),
              "--output", output)
    assert run.code == 0, run.out + run.err
    _clean(run.out + run.err)
    json.loads(record.read_text(encoding="utf-8"))
    if output == "json":
        json.loads(run.out)


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_an_unverified_builder_id_is_not_shown_at_all(hostile: SignedLayout, cli: Cli, fmt: str) -> None:
    """Provenance no authority accepted speaks in no report: not its builder, not its level
    (an attacker who can push writes whatever builder id they like)."""
    for argv in (["--policy", str(hostile.policy)], []):  # a policy audit and an inventory
        run = cli("audit", *argv, "--format", fmt, "--quiet", hostile.ref)
        assert run.code == 0, run.err
        assert "evil.example" not in run.out and "SSAP" not in run.out
        assert "(unverified claim)" not in run.out


def test_lone_surrogates_anywhere_in_unsigned_evidence_are_read_as_go_reads_them(
        tmp_path: Path, cli: Cli) -> None:
    layout = signed_layout(tmp_path, cli, seed="surrogates")
    payload = statement_bytes(layout.digest, SLSA1, _predicate("b\ud800", "m\udfff"))
    attach_attestation(layout.store, layout.digest, payload, annotation="t\ud800",
                       payload_type="application/vnd.in-toto+json\ud800",
                       annotations={mt.ANN_CERTIFICATE: "-----BEGIN CERTIFICATE-----\ud800", "k\udc00": "v"})
    verify = cli("verify", "--policy", str(layout.policy), "--output", "json", layout.ref)
    assert verify.code == 0, verify.err
    rejected = json.loads(verify.out)["evidence"]["attestations"]["rejected"]
    assert len(rejected) == 1  # rejected (signed by no authority), not a crash
    for argv in (["audit", "--policy", str(layout.policy)], ["audit"], ["inspect"]):
        run = cli(*argv, "--output" if argv[0] == "inspect" else "--format", "json", layout.ref)
        assert run.code == 0, run.err
        assert "Traceback" not in run.err
        json.loads(run.out)
