"""The registry flags every command that touches a registry shares, and the stores they open.

`add_registry_flags(parser)` adds `--ca-bundle FILE`, `--allow-http-registry HOST`
(repeatable), `--docker-config PATH` and `--max-evidence-mib N`; `registry_options(args)` turns them into one
`RegistryOptions`; `open_image(text, args)` parses a reference and opens its store (an
OCI layout directly, a registry through `slsacheck.oci.open`). Registry modules are
imported inside the functions so that `slsacheck --help` does not load them.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from slsacheck.errors import InputError

if TYPE_CHECKING:
    from slsacheck.models.reference import ImageRef
    from slsacheck.oci.options import RegistryOptions
    from slsacheck.oci.store import Store


def add_registry_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("registry options")
    group.add_argument(
        "--ca-bundle", metavar="FILE", help="PEM file of the CAs to trust for registries (instead of the system store)"
    )
    group.add_argument(
        "--allow-http-registry",
        metavar="HOST",
        action="append",
        default=[],
        help="let HOST (or HOST:PORT) speak plain HTTP; loopback hosts always may (repeatable)",
    )
    group.add_argument(
        "--docker-config",
        metavar="PATH",
        help="docker config.json (or its directory) with registry credentials; default: "
        "$DOCKER_CONFIG, ~/.docker/config.json, $REGISTRY_AUTH_FILE",
    )
    group.add_argument(
        "--max-evidence-mib",
        metavar="N",
        type=int,
        default=None,
        help="evidence (signature and attestation manifests and blobs) one verification may read, in MiB "
        "(default 64); an image with more is not judged: its verification is incomplete (exit 3)",
    )


def registry_options(args: argparse.Namespace) -> RegistryOptions:
    from slsacheck.oci.options import RegistryOptions  # noqa: PLC0415 - keep --help fast

    ca_bundle = getattr(args, "ca_bundle", None)
    if ca_bundle is not None and not os.path.isfile(ca_bundle):
        raise InputError(
            f"--ca-bundle {ca_bundle}: no such file",
            expected="a PEM file of CA certificates",
            hint="pass the CA that signed the registry's certificate",
        )
    docker_config = getattr(args, "docker_config", None)
    if docker_config is not None and not os.path.exists(docker_config):
        raise InputError(
            f"--docker-config {docker_config}: no such file or directory",
            expected="a docker config.json, or the directory holding one",
        )
    if docker_config is not None:
        from slsacheck.oci.auth import check_config  # noqa: PLC0415 - keep --help fast

        check_config(docker_config)
    hosts = []
    for host in getattr(args, "allow_http_registry", None) or []:
        if not host or "/" in host or host != host.strip():
            raise InputError(
                f"--allow-http-registry {host!r}: not a registry host",
                expected="HOST or HOST:PORT, without a scheme or path",
                found=repr(host),
            )
        hosts.append(host)
    extra: dict[str, int] = {}
    budget = getattr(args, "max_evidence_mib", None)
    if budget is not None:
        if budget < 1:
            raise InputError(f"--max-evidence-mib {budget}: not a positive number of MiB", expected="1 or more",
                             found=str(budget))
        extra["max_evidence_bytes"] = budget * 1024 * 1024
    return RegistryOptions(ca_bundle=ca_bundle, allow_http=frozenset(hosts), docker_config=docker_config, **extra)


def open_image(text: str, args: argparse.Namespace, *, create: bool = False) -> tuple[ImageRef, Store]:
    """Parse `text` and open the store holding it (`create`: make a missing layout)."""
    from slsacheck.models.reference import ImageRef  # noqa: PLC0415 - keep --help fast

    ref = ImageRef.parse(text)
    if ref.layout is not None:
        from slsacheck.oci.layout import LayoutStore  # noqa: PLC0415 - keep --help fast

        return ref, LayoutStore(ref.layout, create=create)
    from slsacheck.oci.open import open_store  # noqa: PLC0415 - keep --help fast

    return ref, open_store(ref, registry_options(args), create=create)
