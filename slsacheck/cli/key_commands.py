"""`slsacheck generate-key-pair` and `slsacheck public-key`, and where key passwords come from.

`public-key --key` takes every reference `signing.resolve` knows (files, env://, pkcs11:,
awskms://): the public half is read from the file, the token or the KMS.

A password comes from, in this order: `--password-file F` (one trailing newline
dropped), `COSIGN_PASSWORD` (set but empty means the empty password, as in cosign),
or a no-echo prompt when stdin is a terminal (asked twice when generating). With none
of these the command fails rather than waiting on a pipe. Passwords are never printed
or logged. Other commands that read keys (`sign --key`) use `password_source`.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path

from slsacheck.cli._files import ensure_parent, write_file
from slsacheck.errors import InputError

PASSWORD_ENV = "COSIGN_PASSWORD"  # noqa: S105 - the name of the variable, not a password


def _read_password_file(path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"password file {path} cannot be read: {exc.strerror}",
                         hint="pass a readable file to --password-file") from None
    if data.endswith(b"\r\n"):
        return data[:-2]
    return data[:-1] if data.endswith(b"\n") else data


def _prompt(confirm: bool) -> bytes:
    if not sys.stdin.isatty():
        raise InputError(
            "a key password is needed and there is no terminal to ask on",
            expected=f"--password-file FILE, or {PASSWORD_ENV} in the environment (empty is allowed)",
            found="no password source",
        )
    first = getpass.getpass("Enter password for private key: ")
    if confirm and getpass.getpass("Enter password for private key again: ") != first:
        raise InputError("the passwords do not match", hint="run the command again")
    return first.encode("utf-8")


def password_source(password_file: str | None, *, confirm: bool = False) -> Callable[[], bytes]:
    """A callback that yields the key password when (and only when) a key needs one."""

    def get() -> bytes:
        if password_file is not None:
            return _read_password_file(password_file)
        env = os.environ.get(PASSWORD_ENV)
        if env is not None:
            return env.encode("utf-8")
        return _prompt(confirm)

    return get


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "generate-key-pair",
        help="write a cosign-format key pair: PREFIX.key (encrypted) and PREFIX.pub",
        description="Generate an ECDSA P-256 key pair. PREFIX.key is an ENCRYPTED SIGSTORE PRIVATE KEY "
        f"(mode 0600), PREFIX.pub the PKIX public key. Password: --password-file, ${PASSWORD_ENV}, or a prompt.",
    )
    p.add_argument("--output-key-prefix", default="cosign", metavar="PREFIX",
                   help="path prefix of the two files (default: cosign)")
    p.add_argument("--password-file", metavar="FILE", help="read the password from FILE")
    p.add_argument("--force", action="store_true", help="overwrite existing key files")
    p.set_defaults(func=_generate)

    p = sub.add_parser(
        "public-key", help="print the public key of a private key (PKIX PEM)",
        description="Print the PKIX PEM public key of KEY, as cosign public-key does (what `verify --key` and "
        "policies' key.file take), or write it to --outfile (its directory is created). KEY is a cosign encrypted "
        "key (password: --password-file, $COSIGN_PASSWORD, or a prompt), a plain PEM private key, env://VAR, a key "
        "on a PKCS#11 token (pkcs11:token=T;object=K?module-path=M, read without a PIN unless one is given) or in "
        "AWS KMS (awskms://[HOST:PORT]/KEY).")
    p.add_argument("--key", required=True, metavar="KEY",
                   help="key file path, file://PATH, env://VAR, pkcs11:... or awskms://...")
    p.add_argument("--password-file", metavar="FILE", help="read the key password from FILE")
    p.add_argument("--outfile", metavar="FILE", help="write the PEM to FILE instead of stdout")
    p.set_defaults(func=_public_key)


def _write_new(path: Path, data: bytes, mode: int, force: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise InputError(f"{path} already exists", hint="pass --force to overwrite it, "
                         "or choose another --output-key-prefix") from None
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), mode)  # an existing file keeps its mode through O_TRUNC
        out.write(data)


def _generate(args: argparse.Namespace) -> int:
    from slsacheck.signing.keys import generate_key_pair  # noqa: PLC0415 - keep --help fast

    key_path = Path(f"{args.output_key_prefix}.key")
    pub_path = Path(f"{args.output_key_prefix}.pub")
    if not args.force:
        for path in (key_path, pub_path):
            if path.exists():
                raise InputError(f"{path} already exists", hint="pass --force to overwrite it, "
                                 "or choose another --output-key-prefix")
    ensure_parent(key_path, flag="--output-key-prefix", what="the key pair")
    password = password_source(args.password_file, confirm=True)()
    private_pem, public_pem = generate_key_pair(password)
    _write_new(key_path, private_pem, 0o600, args.force)
    _write_new(pub_path, public_pem, 0o644, args.force)
    print(f"Private key written to {key_path}", file=sys.stderr)
    print(f"Public key written to {pub_path}", file=sys.stderr)
    return 0


def _public_key(args: argparse.Namespace) -> int:
    from slsacheck.signing.keys import public_key_pem  # noqa: PLC0415 - keep --help fast
    from slsacheck.signing.resolve import load_verifier  # noqa: PLC0415

    verifier = load_verifier(args.key, password=password_source(args.password_file))
    pem = public_key_pem(verifier.public_key)
    if args.outfile:
        write_file(Path(args.outfile), pem, flag="--outfile", what="the public key")
        print(f"Public key written to {args.outfile}", file=sys.stderr)
    else:
        sys.stdout.write(pem.decode("ascii"))
    return 0
