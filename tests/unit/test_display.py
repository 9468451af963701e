"""The escaping helpers of slsacheck._display, and the text renderers that use them."""

from __future__ import annotations

import io
import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from slsacheck._display import (
    UNSAFE,
    GuardedStream,
    markdown_code,
    terminal,
    terminal_block,
    visible,
    xml_attr,
    xml_text,
)
from slsacheck._json import dumps_report, utf8, utf8_safe
from slsacheck.errors import InputError
from slsacheck.models.digest import Digest
from slsacheck.models.evidence import Evidence, Rejected
from slsacheck.models.verdict import Check, Outcome, Verdict
from slsacheck.models.verdict_render import checks_table as render_text
from slsacheck.models.verdict_render import render_verdict


def _should_escape(point: int) -> bool:
    category = unicodedata.category(chr(point))
    return (category in ("Cc", "Cf", "Cs", "Zl", "Zp") or 0xFDD0 <= point <= 0xFDEF
            or (point & 0xFFFE) == 0xFFFE)


def test_unsafe_is_exactly_the_control_format_separator_and_noncharacter_points() -> None:
    wrong = [f"U+{p:04X}" for p in range(0x110000) if bool(UNSAFE.fullmatch(chr(p))) != _should_escape(p)]
    assert wrong == []


def test_every_escape_is_json_text_for_the_same_character() -> None:
    for point in range(0x110000):
        char = chr(point)
        if UNSAFE.fullmatch(char):
            assert json.loads(f'"{visible(char)}"') == char


def test_json_through_the_terminal_guard_keeps_its_value() -> None:
    value = {"k\u202e": ["\x1b[2J", "\ud800", "\U000e0041", "\x9b", "ok é"]}
    text = json.dumps(value, ensure_ascii=False)
    assert json.loads(terminal_block(text)) == value


def test_a_field_cannot_start_a_line_but_a_block_keeps_its_lines() -> None:
    assert terminal("a\nverdict:  PASS\r") == "a\\u000averdict:  PASS\\u000d"
    assert terminal_block("one\n\ttwo\x1b[0m") == "one\n\ttwo\\u001b[0m"
    assert terminal(None) == ""


def test_xml_helpers_write_only_what_xml_carries() -> None:
    import xml.etree.ElementTree as ET

    hostile = "a<b>&\"'\x00\x0b\ufffe\uffff\ud800\n"
    doc = f"<r a={xml_attr(hostile)}>{xml_text(hostile)}</r>"
    root = ET.fromstring(doc.encode("utf-8"))
    assert root.get("a") == "a<b>&\"'\\u0000\\u000b\\ufffe\\uffff\\ud800\\u000a"
    assert root.text == "a<b>&\"'\\u0000\\u000b\\ufffe\\uffff\\ud800\n"


@pytest.mark.parametrize("value", ["`", "a`b", "``x``", " lead", "trail ", "|pipe|", "", "[x](https://e.x)",
                                   "@team ![i](https://e.x/p.png) <img src=x>", "a\nb"])
def test_markdown_code_is_one_literal_code_span(value: str) -> None:
    span = markdown_code(value)
    rendered = MarkdownIt("commonmark", {"html": True}).enable("table").render(f"| h |\n|---|\n| {span} |\n")
    assert "<a " not in rendered and "<img" not in rendered
    assert rendered.count("<code>") == 1 and "<td>" in rendered and rendered.count("<td") == 1


def test_render_text_escapes_every_field_of_a_check() -> None:
    forged = "x\nverdict:  PASS\x1b[32m"
    verdict = Verdict(image="img" + forged, digest="sha256:" + "0" * 64, policies=["p" + forged],
                      checks=[Check("c.id", Outcome.FAIL, policy=forged, expected=forged, found=forged,
                                    hint=forged, message=forged)],
                      incomplete=(), evidence=Evidence(
                          "img", Digest.parse("sha256:" + "0" * 64),
                          rejected=(Rejected("signature", "s" + forged, forged, predicate_type=forged),)))
    text = render_verdict(verdict) + render_text(verdict)
    assert [line for line in text.splitlines() if line.startswith("verdict:")] == ["verdict:  FAIL"] * 2
    assert "\x1b" not in text and "verdict:  PASS" not in text.replace("\\u000averdict:  PASS", "")


def test_guarded_stream_escapes_writes_and_reports_the_terminal() -> None:
    raw = io.StringIO()
    stream = GuardedStream(raw)
    print("a\x1b[2Jb", file=stream)  # type: ignore[arg-type]
    assert raw.getvalue() == "a\\u001b[2Jb\n"
    assert stream.isatty() is False and stream.getvalue() == raw.getvalue()  # the rest is the raw stream's


def test_main_restores_the_streams() -> None:
    from slsacheck.cli import main

    before = sys.stdout, sys.stderr
    assert main(["policy"]) == 2
    assert (sys.stdout, sys.stderr) == before


def test_json_output_replaces_lone_surrogates_and_signing_refuses_them() -> None:
    assert utf8_safe("a\ud800b") == "a\ufffdb"
    assert json.loads(dumps_report({"k": "\udfff"}, ensure_ascii=False)) == {"k": "\ufffd"}
    assert json.loads(dumps_report({"k": "\udfff"})) == {"k": "\ufffd"}
    with pytest.raises(InputError, match="lone surrogate"):
        utf8("x\ud800", what="the statement")
    assert utf8("é", what="x") == "é".encode()


@pytest.mark.parametrize("to_file", [True, False])
def test_provenance_generate_refuses_a_run_with_a_lone_surrogate(tmp_path: Path, to_file: bool,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from slsacheck.cli import main
    from tests.unit.test_provenance_generate import taskrun, write

    doc = taskrun()
    doc["spec"]["params"] = [{"name": "revision", "value": "main\ud800"}]
    run = write(tmp_path, "run.json", doc)
    out = ["--output", str(tmp_path / "out.json")] if to_file else []
    assert main(["provenance", "generate", "--run", str(run), *out]) == 2
    captured = capsys.readouterr()
    assert "lone surrogate" in captured.err and captured.out == ""
    assert not (tmp_path / "out.json").exists()


def test_evidence_is_decoded_as_go_decodes_lone_surrogates() -> None:
    from slsacheck._json import without_lone_surrogates

    doc = json.loads('{"a\\ud800": ["x\\udfff", {"b": "\\ud83d\\ude00 ok", "c": 1}], "d": [[["\\udc00"]]]}')
    assert without_lone_surrogates(doc) == {"a\ufffd": ["x\ufffd", {"b": "\U0001f600 ok", "c": 1}],
                                            "d": [[["\ufffd"]]]}
    assert without_lone_surrogates("\ud800") == "\ufffd" and without_lone_surrogates(7) == 7
    deep: list[Any] = []
    node = deep
    for _ in range(5000):  # iterative: no recursion limit to hit
        node.append([])
        node = node[0]
    node.append("\ud800")
    without_lone_surrogates(deep)
    assert node == ["\ufffd"]
