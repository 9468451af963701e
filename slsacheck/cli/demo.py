"""`slsacheck demo`: the whole flow on the embedded default, OCI layout directories.

No registry and no network: the demo builds a small real image (a tar layer of one file,
an OCI config, a manifest) for two platforms and an index over them, inspects it, copies
it to a second layout and copies it again to show that nothing is re-sent.

The demo is a list of `Step`s run in order over one `DemoContext`; later issues add
steps (sign, attest, provenance, verify) by inserting into `STEPS`. A step returns the
lines it prints and raises `DemoFailed` (or any slsacheck error) when what it shows
is not what it should be, so the demo doubles as a smoke test of the main job.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slsacheck.errors import VerificationError

TAG = "demo"


class DemoFailed(VerificationError):
    """A demo step saw something other than what the flow promises."""


@dataclass
class DemoContext:
    """What the steps share: where the layouts are, and what earlier steps produced."""

    root: Path
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> Path:
        return self.root / "source"

    @property
    def destination(self) -> Path:
        return self.root / "copy"


@dataclass(frozen=True)
class Step:
    title: str
    run: Callable[[DemoContext], list[str]]


def _build(ctx: DemoContext) -> list[str]:
    from slsacheck.models.descriptor import Platform  # noqa: PLC0415 - keep --help fast
    from slsacheck.oci import scratch  # noqa: PLC0415 - keep --help fast
    from slsacheck.oci.layout import LayoutStore  # noqa: PLC0415 - keep --help fast

    images = [
        scratch.image({"etc/greeting": f"hello from {arch}\n".encode()}, platform=Platform("linux", arch))
        for arch in ("amd64", "arm64")
    ]
    index = scratch.index(images)
    store = LayoutStore(ctx.source, create=True)
    descriptor = scratch.push(store, index, tag=TAG)
    ctx.facts["digest"] = descriptor.digest
    ctx.facts["source_ref"] = f"oci:{ctx.source}:{TAG}"
    lines = [f"wrote {ctx.facts['source_ref']}", f"index {descriptor.digest}"]
    for image in images:
        lines.append(f"  {image.platform}: {image.digest}  (1 layer, {len(image.blobs[1][1])} bytes gzip)")
    return lines


def _inspect(ctx: DemoContext) -> list[str]:
    from slsacheck.cli.oci_commands import inspect_image, render_inspect  # noqa: PLC0415 - keep --help fast
    from slsacheck.oci.layout import LayoutStore  # noqa: PLC0415 - keep --help fast

    info = inspect_image(LayoutStore(ctx.source), TAG, ctx.facts["source_ref"])
    if info["digest"] != str(ctx.facts["digest"]) or len(info.get("platforms", [])) != 2:
        raise DemoFailed("inspect does not show the index just built", expected=str(ctx.facts["digest"]),
                         found=info["digest"])
    out = io.StringIO()
    render_inspect(info, out)
    return out.getvalue().splitlines()


def _copy(ctx: DemoContext) -> list[str]:
    from slsacheck.cli.oci_commands import render_copy  # noqa: PLC0415 - keep --help fast
    from slsacheck.oci.copy import copy  # noqa: PLC0415 - keep --help fast
    from slsacheck.oci.layout import LayoutStore  # noqa: PLC0415 - keep --help fast

    report = copy(LayoutStore(ctx.source), LayoutStore(ctx.destination, create=True), TAG)
    ctx.facts["copy_ref"] = f"oci:{ctx.destination}:{TAG}"
    if report.digest != ctx.facts["digest"]:
        raise DemoFailed("the copy has another digest", expected=str(ctx.facts["digest"]), found=str(report.digest))
    out = io.StringIO()
    render_copy(report, out)
    return out.getvalue().splitlines()


def _copy_again(ctx: DemoContext) -> list[str]:
    from slsacheck.cli.oci_commands import render_copy  # noqa: PLC0415 - keep --help fast
    from slsacheck.oci.copy import copy  # noqa: PLC0415 - keep --help fast
    from slsacheck.oci.layout import LayoutStore  # noqa: PLC0415 - keep --help fast

    report = copy(LayoutStore(ctx.source), LayoutStore(ctx.destination), TAG)
    if not report.sent_nothing:
        raise DemoFailed("the second copy sent content again", expected="nothing sent",
                         found=f"{report.bytes_sent} bytes")
    out = io.StringIO()
    render_copy(report, out)
    return [*out.getvalue().splitlines(), "nothing was re-sent: the destination already had every blob and manifest"]


STEPS: list[Step] = [
    Step("build a two-platform image into an OCI layout", _build),
    Step("inspect it", _inspect),
    Step("copy it to a second layout", _copy),
    Step("copy it again (idempotent)", _copy_again),
]


def run(root: Path, out: Any = None) -> DemoContext:
    out = out or sys.stdout
    ctx = DemoContext(root)
    for number, step in enumerate(STEPS, 1):
        print(f"[{number}/{len(STEPS)}] {step.title}", file=out)
        for line in step.run(ctx):
            print(f"    {line}", file=out)
    return ctx


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole flow on OCI layout directories (no registry, no network)",
        description="Build a small two-platform image into an OCI layout, inspect it, copy it to a second "
        "layout and copy it again to show that nothing is re-sent.",
    )
    p.add_argument("--dir", help="where to write the layouts (default: a new temporary directory, kept)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="slsacheck-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"slsacheck demo in {root}")
    run(root)
    print(f"done: the layouts are in {root} (try: slsacheck inspect oci:{root / 'copy'}:{TAG})")
    return 0
