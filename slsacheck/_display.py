"""Text from outside, made safe to show: one function per output format (pure, no I/O).

Evidence is written by whoever could push to a repository: a builder id, a branch name, a
`predicateType` annotation, a registry's error body. Shown raw, it can drive a terminal
(ESC sequences that clear the screen and draw a forged PASS, CR that rewrites a line, BEL),
reorder what a reader sees (bidi overrides), break a report's format (XML 1.0 cannot carry
most C0 controls, U+FFFE/U+FFFF or a lone surrogate; UTF-8 cannot carry a lone surrogate at
all) or turn into live Markdown (links, images, `@mentions` in a pull-request comment).

Every writer passes such text through the function for its format:

- `terminal(value)`: one field on a line of text output;
- `terminal_block(text)`: a whole block of text output (keeps its line breaks and tabs);
- `xml_text(value)` / `xml_attr(value)`: XML character data / a quoted attribute value;
- `html_text(value)`: HTML text or a quoted attribute value;
- `markdown_code(value)`: an inline code span (no link, image, mention or HTML inside),
  safe in a table cell.

JSON writers use `slsacheck._json.dumps_report` (JSON itself escapes controls). And the
CLI writes everything it prints through a `GuardedStream` (`terminal_block` on every
write), so no text output of any command, present or future, can carry a control sequence.

The unsafe characters (`UNSAFE`) are the Unicode categories Cc (C0, DEL, C1), Cf (bidi
overrides and isolates, zero-width characters, BOM, tags...), Cs (surrogates), Zl and Zp
(line and paragraph separators), and the noncharacters (U+FDD0..U+FDEF, U+xxFFFE/U+xxFFFF).
Each is replaced by a visible escape in JSON's own spelling, `\\u001b` (a surrogate pair,
`\\udb40\\udc01`, above U+FFFF), so a reader still sees that something was there and what,
and JSON text passed through stays valid JSON with the same value.
"""

from __future__ import annotations

import re
from typing import Any, TextIO

# Cc, Cf, Cs, Zl, Zp and the noncharacters of Unicode 14 (Python 3.11's unicodedata); a
# unit test derives the set from unicodedata and compares.
UNSAFE = re.compile(
    "[\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufdd0-\ufdef\ufeff"
    "\ufff9-\ufffb\ufffe-\uffff\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U0001fffe-\U0001ffff\U0002fffe-\U0002ffff\U0003fffe-\U0003ffff"
    "\U0004fffe-\U0004ffff\U0005fffe-\U0005ffff\U0006fffe-\U0006ffff\U0007fffe-\U0007ffff"
    "\U0008fffe-\U0008ffff\U0009fffe-\U0009ffff\U000afffe-\U000affff\U000bfffe-\U000bffff"
    "\U000cfffe-\U000cffff\U000dfffe-\U000dffff\U000e0001\U000e0020-\U000e007f\U000efffe-\U000effff"
    "\U000ffffe-\U000fffff\U0010fffe-\U0010ffff]"
)
_KEEP_LINES = frozenset("\n\t")


def _escape(match: re.Match[str]) -> str:
    point = ord(match.group(0))
    if point > 0xFFFF:
        point -= 0x10000
        return f"\\u{0xD800 + (point >> 10):04x}\\u{0xDC00 + (point & 0x3FF):04x}"
    return f"\\u{point:04x}"


def _escape_keeping_lines(match: re.Match[str]) -> str:
    char = match.group(0)
    return char if char in _KEEP_LINES else _escape(match)


def visible(value: object, *, keep_lines: bool = False) -> str:
    """`value` as text with every unsafe character replaced by its visible escape."""
    text = "" if value is None else str(value)
    return UNSAFE.sub(_escape_keeping_lines if keep_lines else _escape, text)


def terminal(value: object) -> str:
    """One field of a text line: nothing in it can move the cursor or start a new line."""
    return visible(value)


def terminal_block(text: str) -> str:
    """A whole block of text output: line breaks and tabs kept, every other control escaped."""
    return visible(text, keep_lines=True)


# Markup escapes by hand: xml.sax.saxutils would pull urllib.request into every CLI start.
_MARKUP = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"})


def xml_text(value: object) -> str:
    """XML 1.0 character data: only characters XML can carry; markup characters escaped."""
    return visible(value, keep_lines=True).translate(_MARKUP)


def xml_attr(value: object) -> str:
    """A double-quoted XML attribute value (line breaks escaped too: parsers fold them to spaces)."""
    return f'"{visible(value).translate(_MARKUP)}"'


def html_text(value: object) -> str:
    """HTML text or a quoted attribute value."""
    return visible(value, keep_lines=True).translate(_MARKUP)


_BACKTICKS = re.compile("`+")


def markdown_code(value: object) -> str:
    """An inline code span (CommonMark/GFM) holding `value` literally, safe in a table cell.

    Inside a code span nothing is a link, an image, a mention or HTML. The fence is one
    backtick longer than the longest run inside; `|` is escaped because GFM splits table
    cells on it even inside code; line breaks are escaped with the other controls.
    """
    text = visible(value).replace("|", "\\|")
    if not text:
        return "` `"
    fence = "`" * (1 + max((len(run) for run in _BACKTICKS.findall(text)), default=0))
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


class GuardedStream:
    """A text stream whose every write goes through `terminal_block` (the CLI's stdout/stderr).

    `raw` is the stream underneath, for the one writer that draws on a terminal on purpose
    (the audit progress bar, which prints only counts).
    """

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        self.raw.write(terminal_block(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.raw.flush()

    def isatty(self) -> bool:
        return self.raw.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def unguarded(stream: Any) -> Any:
    """The stream under a `GuardedStream` (or `stream` itself)."""
    return stream.raw if isinstance(stream, GuardedStream) else stream
