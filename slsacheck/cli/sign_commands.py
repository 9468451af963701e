"""`slsacheck sign`, `attest`, `verify` and `verify-attestation`: thin commands over
`slsacheck.attach` and `slsacheck.verify`.

Exit codes: 0 verified (or signed), 1 a verification or policy failure, 2 a usage or
input error, 3 could not complete (registry unreachable, ...). Library modules load
inside the command functions so that `slsacheck --help` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slsacheck.cli._files import write_file
from slsacheck.cli._registry_flags import add_registry_flags, open_image, registry_options
from slsacheck.errors import Error, InputError

if TYPE_CHECKING:
    from slsacheck.attach.sign import Format
    from slsacheck.models.verdict import Verdict
    from slsacheck.policy.authority import Authority
    from slsacheck.signing.signer import SignedEnvelope, SignedMessage, Signer
    from slsacheck.signing.tuf_source import Mirror
    from slsacheck.verify.authorities import TrustRoots

_FORMATS = ("legacy", "bundle", "both")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sign", help="sign an image (cosign .sig layer and/or Sigstore bundle referrer)",
                       description="Resolve IMAGE to its digest, sign the digest, and attach the signature.")
    _signer_flags(p)
    p.add_argument("image", metavar="IMAGE", help="REGISTRY/REPO[:TAG][@DIGEST] or oci:DIR[:TAG]")
    p.add_argument("-a", "--annotation", action="append", default=[], metavar="KEY=VALUE",
                   help="annotation to sign with the image (repeatable)")
    p.add_argument("--recursive", action="store_true", help="on an index, sign the index and every manifest in it")
    p.add_argument("--format", choices=_FORMATS, default="both",
                   help="legacy: a layer of the sha256-<hex>.sig tag; bundle: a Sigstore bundle referrer "
                   "(cosign 3's form); both (default)")
    add_registry_flags(p)
    p.set_defaults(func=_sign)

    p = sub.add_parser("attest", help="attest an image with an in-toto statement (cosign .att and/or bundle)",
                       description="Resolve IMAGE, wrap the predicate in an in-toto Statement about its digest, "
                       "sign it (DSSE) and attach it.")
    _signer_flags(p)
    p.add_argument("image", metavar="IMAGE", help="REGISTRY/REPO[:TAG][@DIGEST] or oci:DIR[:TAG]; the statement "
                   "is about the digest it resolves to")
    p.add_argument("--predicate", required=True, metavar="FILE",
                   help="predicate JSON file, or - for stdin; a whole in-toto Statement (as `provenance generate` "
                   "prints) is accepted when one of its subjects is the image digest, and its predicate is attested")
    p.add_argument("--type", default=None, metavar="TYPE",
                   help="predicate type: slsaprovenance (v0.2), slsaprovenance02, slsaprovenance1, spdx, spdxjson, "
                   "cyclonedx, vuln, openvex, custom, link, or a URI (default: a Statement's own type, else custom)")
    p.add_argument("--format", choices=_FORMATS, default="both",
                   help="legacy: a layer of sha256-<hex>.att; bundle: a Sigstore bundle referrer; both (default)")
    add_registry_flags(p)
    p.set_defaults(func=_attest)

    p = sub.add_parser(
        "verify", help="verify images' signatures with a key, a keyless identity, or policies",
        description="Judge each IMAGE: with --key or a keyless identity, at least one signature must verify; "
        "with --policy, every policy whose images match must pass. Exit 0 pass, 1 fail, 2 usage, "
        "3 could not complete. JSON output: one verdict object, or an array for several images.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="REGISTRY/REPO[:TAG][@DIGEST] or oci:DIR[:TAG]; "
                   "each is judged by the digest it resolves to")
    _verifier_flags(p)
    p.add_argument("-a", "--annotations", action="append", default=[], metavar="KEY=VALUE",
                   help="with --key or an identity: count only signatures whose signed annotations hold KEY=VALUE "
                   "(as cosign verify -a; repeatable, all must hold)")
    p.add_argument("--policy", action="append", default=[], metavar="FILE", help="an ImagePolicy file (repeatable)")
    p.add_argument("--no-match", choices=["deny", "warn", "allow"], default=None,
                   help="what an image no policy matches gets (default: the policies' noMatch, else deny)")
    p.set_defaults(func=_verify, kind="signature")

    p = sub.add_parser("verify-attestation", help="verify images' attestations of a type with a key or identity",
                       description="At least one attestation of --type must verify for the key or identity.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="REGISTRY/REPO[:TAG][@DIGEST] or oci:DIR[:TAG]; "
                   "each is judged by the digest it resolves to")
    _verifier_flags(p)
    p.add_argument("--type", default=None, metavar="TYPE", help="predicate type (alias or URI); default: any")
    p.set_defaults(func=_verify, kind="attestation", policy=[], no_match=None, annotations=[])
    # After _verifier_flags: --output gains `payload`, the verified statements themselves.
    for action in p._actions:
        if action.dest == "output":
            action.choices = ["text", "json", "payload"]
            action.help = ("text (default); json: the verdict; payload: the in-toto statements that verified, one "
                           "JSON document a line on stdout (the verdict goes to stderr), as cosign verify-attestation "
                           "and slsa-verifier --print-provenance print them")


def _signer_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key", metavar="KEY", help="private key: a path, file://PATH, env://VAR, "
                   "pkcs11:token=T;object=K?module-path=M or awskms://[HOST:PORT]/KEY")
    p.add_argument("--keyless", action="store_true", help="sign keyless (Fulcio certificate, Rekor entry)")
    p.add_argument("--identity-token", metavar="FILE",
                   help="OIDC identity token file for --keyless, or - for stdin; without it: $SIGSTORE_ID_TOKEN, "
                   "then --identity-token-file, then GitHub Actions' token service (audience sigstore)")
    p.add_argument("--identity-token-file", metavar="PATH",
                   help="projected service-account token for --keyless when no --identity-token or "
                   "$SIGSTORE_ID_TOKEN is given (default /var/run/sigstore/oidc-token, where the Tekton Tasks "
                   "mount it)")
    p.add_argument("--trust-config", metavar="FILE",
                   help="Sigstore ClientTrustConfig (private deployments); without it or --signing-config, "
                   "--keyless uses the trust root and signing config cached through TUF (`slsacheck "
                   "trusted-root update`)")
    p.add_argument("--signing-config", metavar="FILE",
                   help="--keyless: Sigstore signing config v0.2 (as cosign 3 takes it) choosing Fulcio, the "
                   "Rekor log (v1, or v2 with a timestamp authority) and TSAs; with --trusted-root FILE, else "
                   "the TUF-cached trust root")
    p.add_argument("--trusted-root", metavar="FILE",
                   help="--keyless with --signing-config: the deployment's trusted_root.json")
    p.add_argument("--tuf-mirror", metavar="URL",
                   help="--keyless without --trust-config: the TUF repository whose cached root (and signing "
                   "config, without --signing-config) to use (default: the Sigstore public good)")
    p.add_argument("--password-file", metavar="FILE", help="key password file (else $COSIGN_PASSWORD or a prompt)")


def _verifier_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key", action="append", default=[], metavar="PUB",
                   help="public key (path, file://, env://, pkcs11:, awskms://); repeatable: any one may have signed")
    p.add_argument("--certificate-identity", metavar="ID", help="keyless: the exact certificate identity (SAN)")
    p.add_argument("--certificate-identity-regexp", metavar="RE", help="keyless: identity as a full-match regexp")
    p.add_argument("--certificate-oidc-issuer", metavar="URL", help="keyless: the exact OIDC issuer")
    p.add_argument("--certificate-oidc-issuer-regexp", metavar="RE", help="keyless: issuer as a full-match regexp")
    p.add_argument("--trusted-root", metavar="FILE",
                   help="Sigstore trusted_root.json (read offline): keyless, or with --key to check log entries; "
                   "keyless without it: the root cached by `slsacheck trusted-root update` (fetched through TUF "
                   "first when missing or expired)")
    p.add_argument("--tlog", choices=["require", "verify", "ignore"], default="verify",
                   help="with --key: require a verified transparency-log entry, verify entries when --trusted-root "
                   "is given (default), or ignore them")
    p.add_argument("--tuf-mirror", metavar="URL",
                   help="keyless without --trusted-root: the TUF repository whose cached root to use "
                   "(default: the Sigstore public good)")
    p.add_argument("--output", choices=["text", "json"], default="text",
                   help="text (default), or the JSON verdict (an array for several images)")
    p.add_argument("--output-file", metavar="FILE", dest="report",
                   help="also write the JSON verdict(s) to FILE (--output still chooses what stdout shows)")
    p.add_argument("--offline", action="store_true",
                   help="no network besides the image's registry: never fetch a trust root through TUF; a "
                   "missing or expired cached root fails (exit 3) with a hint")
    p.add_argument("--report", metavar="FILE", dest="report", help=argparse.SUPPRESS)  # earlier spelling
    add_registry_flags(p)


# -- sign / attest ---------------------------------------------------------------------


def _read_input(path: str, what: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read: {exc.strerror}") from None


def _signer(args: argparse.Namespace) -> Signer:
    from slsacheck.cli.key_commands import password_source  # noqa: PLC0415
    from slsacheck.signing.resolve import load_signer  # noqa: PLC0415

    if bool(args.key) == bool(args.keyless):
        raise InputError("give exactly one of --key KEY and --keyless",
                         hint="--key names a private key; --keyless signs with an OIDC identity token")
    if not args.keyless and (args.signing_config or args.trusted_root):
        raise InputError("--signing-config and --trusted-root choose the Sigstore services of --keyless signing",
                         hint="drop them when signing with --key, or sign with --keyless")
    if args.keyless:
        if args.identity_token:
            token = _read_input(args.identity_token, "identity token file").decode("utf-8", "replace").strip()
        else:
            from slsacheck.signing.ambient import find_identity_token  # noqa: PLC0415

            found = find_identity_token(token_file=args.identity_token_file)
            # Where the identity came from, never the token itself.
            print(f"keyless: identity token from {found.source}", file=sys.stderr)
            token = found.token
        if args.signing_config:
            return load_signer("keyless", identity_token=token, signing_config=str(args.signing_config),
                               trusted_root=_signing_trusted_root(args))
        if args.trusted_root:
            raise InputError("--trusted-root goes with --signing-config when signing",
                             hint="give --signing-config FILE too, or --trust-config FILE with both documents")
        return load_signer("keyless", identity_token=token, trust_config=_signing_trust_config(args))
    return load_signer(args.key, password=password_source(args.password_file))


class _KeyOnThread:
    """A key file's signer, made on a thread while the command goes on (see `_signer_begun`);
    every use waits for it, and raises what making it raised."""

    def __init__(self, args: argparse.Namespace) -> None:
        self._made: Signer | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._make, args=(args,), name="key", daemon=True)
        self._thread.start()

    def _make(self, args: argparse.Namespace) -> None:
        try:
            self._made = _signer(args)
        except BaseException as exc:  # handed to the main thread by `signer()`
            self._error = exc

    def signer(self) -> Signer:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._made is not None
        return self._made

    @property
    def description(self) -> str:
        return self.signer().description

    def sign_message(self, payload: bytes) -> SignedMessage:
        return self.signer().sign_message(payload)

    def sign_dsse(self, payload_type: str, payload: bytes) -> SignedEnvelope:
        return self.signer().sign_dsse(payload_type, payload)


def _signer_begun(args: argparse.Namespace) -> Signer:
    """`_signer(args)`, begun on a thread where that is safe and pays. A key file's scrypt
    (about 0.2 s, most of a step's `sign`) releases the GIL, so the attach code loads and the
    image is resolved meanwhile; nothing is signed or written before the key is there. Only for
    a key file whose password needs no prompt (--password-file or $COSIGN_PASSWORD): a prompt,
    a PKCS#11 token, a KMS key and keyless signing stay on the main thread. What the key's code
    imports is imported here first, so the thread runs no import beside the main thread's."""
    from slsacheck.cli.key_commands import PASSWORD_ENV  # noqa: PLC0415

    key = args.key or ""
    if args.keyless or not key or "://" in key or key.startswith("pkcs11:"):
        return _signer(args)
    if args.password_file is None and PASSWORD_ENV not in os.environ:
        return _signer(args)
    import nacl.exceptions  # noqa: PLC0415 - see the docstring
    import nacl.secret  # noqa: PLC0415, F401

    from slsacheck.signing import _pkcs8, keys, keysigner, resolve  # noqa: PLC0415, F401
    return _KeyOnThread(args)


def _key_errors_first(begun: Signer, error: Error) -> Error:
    """What to report when the work beside the key failed: the key's own error, if it has one,
    as when the key was loaded before anything else."""
    if isinstance(begun, _KeyOnThread):
        begun.signer()  # raises the key's error
    return error


def _placement(args: argparse.Namespace, signer: Signer) -> Format:
    """--format, narrowed to the bundle when keyless signing logs to Rekor v2: cosign's
    `.sig`/`.att` annotations hold a Rekor SET, which a v2 log never signs (cosign 3 too
    writes only bundles there)."""
    fmt: Format = args.format
    if not args.keyless:
        return fmt
    from slsacheck.signing.keyless import KeylessSigner  # noqa: PLC0415

    if not isinstance(signer, KeylessSigner) or signer.log_api_version < 2:
        return fmt
    if args.format == "legacy":
        raise InputError("--format legacy cannot carry a Rekor v2 entry",
                         expected="--format bundle (or both) with a signing config that selects Rekor v2",
                         found="--format legacy",
                         hint="cosign's .sig/.att layers need a Rekor v1 SET; sign to a bundle, or choose a Rekor "
                         "v1 log in the signing config")
    if args.format == "both":
        print("keyless: the signing config selects Rekor v2, whose entries only a Sigstore bundle carries: "
              "writing the bundle referrer alone", file=sys.stderr)
    return "bundle"


def _signing_mirror(args: argparse.Namespace) -> Mirror:
    from slsacheck.signing.tuf_source import PUBLIC_GOOD_URL, Mirror  # noqa: PLC0415

    return Mirror.of(args.tuf_mirror) if args.tuf_mirror else Mirror(PUBLIC_GOOD_URL)


def _signing_trusted_root(args: argparse.Namespace) -> str:
    """--trusted-root, else the TUF-cached root (fetched first when missing or expired)."""
    if args.trust_config:
        raise InputError("give --trust-config or --signing-config, not both",
                         hint="a trust config already holds a signing config and its trusted root")
    if args.trusted_root:
        return str(args.trusted_root)
    from slsacheck.signing.tuf import current  # noqa: PLC0415

    return str(current(_signing_mirror(args)).trusted_root_path)


def _signing_trust_config(args: argparse.Namespace) -> str:
    """--trust-config, else the ClientTrustConfig of the TUF-cached root and signing config
    (fetched first when missing or expired, and said so on stderr)."""
    if args.trust_config:
        return str(args.trust_config)
    from slsacheck.signing.tuf import client_trust_config  # noqa: PLC0415

    return str(client_trust_config(_signing_mirror(args)))


def _annotations(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"-a {pair!r}: not KEY=VALUE", expected="KEY=VALUE, e.g. -a commit=abc123")
        out[key] = value
    return out


def _sign(args: argparse.Namespace) -> int:
    annotations = _annotations(args.annotation)
    signer = _signer_begun(args)
    try:
        from slsacheck.attach.sign import sign_image  # noqa: PLC0415

        fmt = _placement(args, signer)
        ref, store = open_image(args.image, args)
        results = sign_image(store, ref, signer, annotations=annotations, recursive=args.recursive, fmt=fmt)
    except Error as exc:
        raise _key_errors_first(signer, exc) from None
    print(f"{args.image} resolved to {results[0].digest}", file=sys.stderr)
    for r in results:
        _print_attached(r, "signed")
    return 0


def _print_attached(r: Any, verb: str) -> None:
    parts = [f"{verb} {r.digest}"]
    if r.tag is not None:
        parts.append(f"{r.tag}: {r.added} new layer(s)" if r.added else f"{r.tag}: already there")
    if r.bundle is not None:
        parts.append(f"bundle referrer {r.bundle}")
    print("; ".join(parts))


def _attest(args: argparse.Namespace) -> int:
    where = f"--predicate {args.predicate}"
    data = _read_input(args.predicate, "predicate file")
    signer = _signer_begun(args)
    # The predicate's errors come before the key's, as when it was read first.
    from slsacheck.attach.predicates import load_predicate, predicate_type, statement_type  # noqa: PLC0415
    from slsacheck.attach.sign import attest_image  # noqa: PLC0415

    predicate = load_predicate(data, args.predicate)
    ptype = predicate_type(args.type) if args.type else statement_type(predicate, where) or predicate_type("custom")
    try:
        fmt = _placement(args, signer)
        ref, store = open_image(args.image, args)
        result = attest_image(store, ref, signer, predicate_type=ptype, predicate=predicate, fmt=fmt,
                              source=where)
    except Error as exc:
        raise _key_errors_first(signer, exc) from None
    print(f"{args.image} resolved to {result.digest}", file=sys.stderr)
    _print_attached(result, f"attested ({ptype})")
    return 0


# -- verify ----------------------------------------------------------------------------


def _ad_hoc_authority(args: argparse.Namespace) -> Authority | None:
    keyless = any((args.certificate_identity, args.certificate_identity_regexp, args.certificate_oidc_issuer,
                   args.certificate_oidc_issuer_regexp))
    if args.key and keyless:
        raise InputError("give either --key or a keyless identity, not both")
    if args.key:
        from slsacheck.signing.keys import public_key_pem  # noqa: PLC0415
        from slsacheck.signing.resolve import load_verifier  # noqa: PLC0415
        from slsacheck.verify.simple import key_authority  # noqa: PLC0415

        return key_authority([public_key_pem(load_verifier(k).public_key) for k in args.key],
                             trusted_root=args.trusted_root, tlog=args.tlog)
    if args.tlog != "verify" and not args.key:
        raise InputError(f"--tlog {args.tlog} applies to --key",
                         hint="keyless signatures always need their transparency-log entry; drop --tlog")
    if keyless:
        from slsacheck.verify.simple import keyless_authority  # noqa: PLC0415

        return keyless_authority(
            identity=args.certificate_identity, identity_regexp=args.certificate_identity_regexp,
            issuer=args.certificate_oidc_issuer, issuer_regexp=args.certificate_oidc_issuer_regexp,
            trusted_root=args.trusted_root, tuf_mirror=_tuf_mirror(args),
        )
    return None


def _tuf_mirror(args: argparse.Namespace) -> Mirror | None:
    from slsacheck.signing.tuf_source import Mirror  # noqa: PLC0415

    return Mirror.of(args.tuf_mirror) if args.tuf_mirror else None


def _trust_roots(args: argparse.Namespace) -> TrustRoots:
    """Trusted roots for this run: TUF roots from the cache, fetched (and said so) unless --offline."""
    from slsacheck.signing.tuf_source import TufUse  # noqa: PLC0415
    from slsacheck.verify.authorities import TrustRoots  # noqa: PLC0415

    return TrustRoots(TufUse(offline=args.offline))


def _verify(args: argparse.Namespace) -> int:
    from slsacheck.models.reference import ImageRef  # noqa: PLC0415
    from slsacheck.verify.gate import exit_code  # noqa: PLC0415

    authority = _ad_hoc_authority(args)
    if authority is not None and args.policy:
        raise InputError("give either --policy or --key/--certificate-identity, not both")
    if args.policy and getattr(args, "annotations", []):
        raise InputError("-a applies to --key or a keyless identity",
                         hint="in a policy, check annotations with a condition, or verify with --key and -a")
    if authority is None and not args.policy:
        raise InputError(
            "nothing to verify against",
            expected="--key PUB, --certificate-identity[-regexp] with --certificate-oidc-issuer[-regexp], "
            "or --policy FILE" if args.kind == "signature" else "--key PUB or a keyless identity",
        )
    refs = [ImageRef.parse(text) for text in args.images]
    options = registry_options(args)
    now = datetime.now(UTC)
    verdicts: list[Verdict]
    if authority is not None:
        from slsacheck.verify.simple import Wanted, verify_simple  # noqa: PLC0415

        wanted = Wanted(args.kind, _wanted_type(args), annotations=_annotations(getattr(args, "annotations", [])))
        roots = _trust_roots(args)
        payloads: list[Mapping[str, Any]] | None = [] if args.output == "payload" else None
        verdicts = [verify_simple(ref, authority, wanted, options=options, now=now, roots=roots, statements=payloads)
                    for ref in refs]
        if payloads is not None:
            return _print_payloads(verdicts, payloads, args.report)
    else:
        from slsacheck.policy.load import load_policies  # noqa: PLC0415
        from slsacheck.verify.gate import verify_images  # noqa: PLC0415

        policy_set = load_policies(args.policy, no_match=args.no_match)
        verdicts = verify_images(refs, policy_set, options=options, now=now, roots=_trust_roots(args))
    if args.report:
        _write_report(Path(args.report), verdicts)
    _print_verdicts(verdicts, args.output)
    return exit_code(verdicts)


def _wanted_type(args: argparse.Namespace) -> str | None:
    """verify-attestation's --type as a URI; None (any) without one, and for verify."""
    if not getattr(args, "type", None):
        return None
    from slsacheck.attach.predicates import predicate_type  # noqa: PLC0415

    return predicate_type(args.type)


def _print_payloads(verdicts: list[Verdict], payloads: list[Mapping[str, Any]], report: str | None) -> int:
    """The verified statements on stdout, only when every image passed: a statement whose
    image failed is not printed, so a pipe never consumes evidence that was not accepted."""
    import json  # noqa: PLC0415

    from slsacheck.models.verdict_render import render_text  # noqa: PLC0415
    from slsacheck.verify.gate import exit_code  # noqa: PLC0415

    if report:
        _write_report(Path(report), verdicts)
    code = exit_code(verdicts)
    if code != 0:
        sys.stderr.write(render_text(verdicts))
        return code
    for statement in payloads:
        # ASCII JSON: escapes keep anything in the evidence from reaching a terminal as itself,
        # and the text is the statement exactly, for the program the pipe feeds.
        sys.stdout.write(json.dumps(statement, ensure_ascii=True) + "\n")
    print(f"verified: {len(payloads)} statement(s) printed", file=sys.stderr)
    return code


def _write_report(path: Path, verdicts: list[Verdict]) -> None:
    """The JSON verdict(s), as `--output json` prints them, written whole or not at all."""
    from slsacheck.models.verdict_render import render_json  # noqa: PLC0415

    write_file(path, render_json(verdicts).encode("utf-8"), flag="--output-file", what="the verdict")


def _print_verdicts(verdicts: list[Verdict], output: str) -> None:
    from slsacheck.models.verdict_render import render_json, render_text  # noqa: PLC0415

    if output == "json":
        sys.stdout.write(render_json(verdicts))
    else:
        sys.stdout.write(render_text(verdicts))
