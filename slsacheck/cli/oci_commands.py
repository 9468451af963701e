"""`slsacheck inspect` and `slsacheck copy`."""

from __future__ import annotations

import argparse

from slsacheck.errors import Error


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("inspect", help="show an image's digest, media type, platforms and evidence")
    p.add_argument("image", help="REGISTRY/REPO[:TAG][@DIGEST] or oci:DIR[:TAG]")
    p.add_argument("--output", choices=["text", "json"], default="text")
    p.set_defaults(func=_inspect)

    p = sub.add_parser("copy", help="copy an image or index with all its children and blobs")
    p.add_argument("src")
    p.add_argument("dst")
    p.set_defaults(func=_copy)


def _inspect(args: argparse.Namespace) -> int:
    raise Error("inspect is not implemented yet")


def _copy(args: argparse.Namespace) -> int:
    raise Error("copy is not implemented yet")
