"""One schema-valid ImagePolicy document -> `Policy`, with the checks a schema cannot make.

Collects every problem (with its line) rather than stopping at the first: unknown
authority names (with the closest defined one), threshold above the number of listed
authorities, patterns outside the glob grammar, regular expressions and CEL that do not
compile, unreadable or malformed key material, missing trusted roots (or initial TUF
roots), exceptions naming
checks the policy never produces, dates that are not dates.

Key material is read here, once: `file:` relative to the policy file, `pem:` inline,
`env:` from the environment at load time.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import yaml
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from slsacheck.models.predicates import PREDICATE_ALIASES
from slsacheck.models.reference import canonical_registry
from slsacheck.policy import checkids
from slsacheck.policy.authority import Authority, KeyAuthority, KeylessAuthority, TrustSource
from slsacheck.policy.cel import CELCompileError, compile_expression
from slsacheck.policy.globs import Glob, GlobError, compile_glob, compile_image_glob
from slsacheck.policy.model import (
    AttestationRule,
    Condition,
    Policy,
    PolicyException,
    ProvenanceRules,
    SignatureRule,
    SourceRules,
    StepImageRules,
    VulnerabilityRules,
)
from slsacheck.policy.problems import Problem, did_you_mean
from slsacheck.policy.schema import defaults_for
from slsacheck.policy.urls import normalise_pattern
from slsacheck.policy.yamlsource import format_path, line_at
from slsacheck.signing.identity import Identity
from slsacheck.signing.tlog_rule import DEFAULT_TLOG_RULE
from slsacheck.signing.tuf_source import PUBLIC_GOOD_URL, Mirror

_DURATION = re.compile(r"([0-9]+)(d|h|m|s)")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PEM_BLOCK = re.compile(rb"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)

T = TypeVar("T")
Path_ = tuple[str | int, ...]


def parse_duration(text: str) -> timedelta:
    seconds = sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(text))
    return timedelta(seconds=seconds)


def normalise_repo_pattern(pattern: str) -> str:
    """`git+https://GitHub.com:443/acme/app.git/` -> `https://github.com/acme/app` (as URLs are)."""
    return normalise_pattern(pattern, repository=True)


def _registry_prefix(prefix: str) -> str:
    """`Registry.Example.com:443/team/` -> `registry.example.com/team` (as image names are canonical)."""
    host, sep, rest = prefix.rstrip("/").partition("/")
    return canonical_registry(host) + sep + rest


class Builder:
    def __init__(self, data: Mapping[str, Any], file: Path, root: yaml.Node) -> None:
        self.data = data
        self.file = file
        self.root = root
        self.problems: list[Problem] = []
        self.canonical_keys: dict[str, list[str]] = {}
        self.canonical_roots: dict[str, str] = {}

    # -- problem helpers ---------------------------------------------------------------

    def problem(
        self,
        path: Path_,
        message: str,
        *,
        expected: str | None = None,
        found: str | None = None,
        hint: str | None = None,
        key: bool = False,
    ) -> None:
        self.problems.append(
            Problem(
                str(self.file),
                line_at(self.root, path, key=key),
                format_path(path),
                message,
                expected=expected,
                found=found,
                hint=hint,
            )
        )

    def _compile(self, path: Path_, values: Sequence[str], compile_one: Callable[[str], T], what: str) -> tuple[T, ...]:
        out: list[T] = []
        for i, value in enumerate(values):
            try:
                out.append(compile_one(value))
            except (GlobError, re.error, ValueError) as exc:
                self.problem((*path, i), f"bad {what}: {exc}", found=repr(value))
        return tuple(out)

    def globs(
        self, path: Path_, values: Sequence[str], *, normalise: Callable[[str], str] | None = None
    ) -> tuple[Glob, ...]:
        norm = normalise or (lambda s: s)
        # Match with the normalised pattern, but show people the pattern they wrote.
        return self._compile(path, values, lambda v: Glob(v, compile_glob(norm(v)).regex), "pattern")

    # -- the document ------------------------------------------------------------------

    def build(self) -> Policy:
        spec = self.data["spec"]
        spec_defaults = defaults_for(["spec"])
        kind = self.data.get("kind", "ImagePolicy")
        if kind == "ArtifactPolicy":
            files = spec["artifacts"]
            include = self._compile(("spec", "artifacts", "include"), files["include"], compile_glob, "file pattern")
            exclude = self._compile(
                ("spec", "artifacts", "exclude"), files.get("exclude", []), compile_glob, "file pattern"
            )
        else:
            images = spec["images"]
            include = self._compile(
                ("spec", "images", "include"), images["include"], compile_image_glob, "image pattern"
            )
            exclude = self._compile(
                ("spec", "images", "exclude"), images.get("exclude", []), compile_image_glob, "image pattern"
            )
        authorities = self.authorities(spec["authorities"])
        aliases = self.registry_aliases(spec.get("registryAliases", []))
        signatures = self.signatures(spec.get("signatures"), authorities)
        attestations = self.attestations(spec.get("attestations", []), authorities)
        policy = Policy(
            name=self.data["metadata"]["name"],
            source=self.file,
            mode=spec.get("mode", spec_defaults["mode"]),
            include=include,
            exclude=exclude,
            authorities=authorities,
            signatures=signatures,
            attestations=attestations,
            no_match=spec.get("noMatch", spec_defaults["noMatch"]),
            declared_aliases=aliases,
            canonical={"document": self.data, "keys": self.canonical_keys, "trustedRoots": self.canonical_roots},
            kind=kind,
        )
        exceptions = self.exceptions(spec.get("exceptions", []), checkids.policy_check_ids(policy))
        return replace(policy, exceptions=exceptions)

    def registry_aliases(self, items: Sequence[Mapping[str, Any]]) -> dict[str, str]:
        """canonical alias -> canonical registry, as this document declares them."""
        out: dict[str, str] = {}
        for i, item in enumerate(items):
            registry = canonical_registry(item["registry"])
            for j, alias in enumerate(item["aliases"]):
                path: Path_ = ("spec", "registryAliases", i, "aliases", j)
                name = canonical_registry(alias)
                if name == registry:
                    self.problem(path, f"{alias!r} is {registry!r} already (registry names are canonical)",
                                 expected="another registry's name", found=alias,
                                 hint="remove it: lower case, default ports and loopback spellings need no alias")
                elif out.get(name, registry) != registry:
                    self.problem(path, f"{alias!r} is declared an alias of both {out[name]!r} and {registry!r}",
                                 expected="each alias for one registry", found=alias)
                else:
                    out[name] = registry
        return out

    def authorities(self, items: Sequence[Mapping[str, Any]]) -> dict[str, Authority]:
        out: dict[str, Authority] = {}
        for i, item in enumerate(items):
            path: Path_ = ("spec", "authorities", i)
            name = item["name"]
            if name in out:
                self.problem((*path, "name"), f"authority {name!r} is defined twice", expected="unique names")
                continue
            if "key" in item:
                key = self.key_authority((*path, "key"), name, item["key"])
                if key is not None:
                    out[name] = key
            else:
                authority = self.keyless((*path, "keyless"), name, item["keyless"])
                if authority is not None:
                    out[name] = authority
        return out

    def key_authority(self, path: Path_, name: str, spec: Mapping[str, Any]) -> KeyAuthority | None:
        keys = self.read_keys(path, {k: v for k, v in spec.items() if k in ("file", "pem", "env")})
        rule = spec.get("tlog", DEFAULT_TLOG_RULE)
        root = None
        if "trustedRoot" in spec:
            root = self.trusted_root((*path, "trustedRoot"), name, spec["trustedRoot"])
        elif rule == "require":
            self.problem(
                (*path, "tlog"),
                "tlog: require needs a trusted root to check the log entries against",
                expected="trustedRoot: <trusted_root.json> beside tlog: require",
                found="no trustedRoot",
                hint="add the Sigstore instance's trusted_root.json, or use tlog: verify",
            )
            return None
        if not keys or (root is None and "trustedRoot" in spec):
            return None
        self.canonical_keys[name] = [k.decode() for k in keys]
        return KeyAuthority(name, keys, trusted_root=root, tlog=rule)

    def trusted_root(self, path: Path_, name: str, value: str) -> Path | None:
        root = (self.file.parent / value).resolve()
        try:
            self.canonical_roots[name] = hashlib.sha256(root.read_bytes()).hexdigest()
        except OSError as exc:
            self.problem(
                path,
                f"cannot read trusted root {root}: {exc.strerror or exc}",
                expected="a Sigstore trusted_root.json (relative to the policy file)",
                found=str(root),
                hint="export one with `cosign trusted-root create` or copy your instance's trusted_root.json",
            )
            return None
        return root

    def keyless_root(self, path: Path_, name: str, spec: Mapping[str, Any]) -> TrustSource | None:
        """A file (`trustedRoot`), a TUF mirror (`tuf`), or else the public-good TUF repository."""
        if "trustedRoot" in spec:
            return self.trusted_root((*path, "trustedRoot"), name, spec["trustedRoot"])
        tuf = spec.get("tuf") or {"mirror": PUBLIC_GOOD_URL}
        initial = None
        if "root" in tuf:
            initial = (self.file.parent / tuf["root"]).resolve()
            if not initial.is_file():
                self.problem(
                    (*path, "tuf", "root"),
                    f"cannot read the initial TUF root {initial}",
                    expected="the mirror's root.json (relative to the policy file)",
                    found=str(initial),
                    hint="copy the root.json your Sigstore deployment publishes for first use",
                )
                return None
        mirror = Mirror(str(tuf["mirror"]).rstrip("/"), initial)
        # The policy's identity names the mirror; the root it serves changes by design.
        self.canonical_roots[name] = f"tuf:{mirror.url}"
        return mirror

    def read_keys(self, path: Path_, source: Mapping[str, str]) -> tuple[bytes, ...]:
        kind, value = next(iter(source.items()))
        data: bytes | None = None
        if kind == "pem":
            data = value.encode()
        elif kind == "env":
            env = os.environ.get(value)
            if not env:
                self.problem(
                    (*path, kind),
                    f"environment variable {value} is not set or empty",
                    expected="PEM public key(s) in the variable",
                    found="nothing",
                    hint=f'export {value}="$(cat key.pub)" before loading the policy',
                )
                return ()
            data = env.encode()
        else:
            file = (self.file.parent / value).resolve()
            try:
                data = file.read_bytes()
            except OSError as exc:
                self.problem(
                    (*path, kind),
                    f"cannot read key file {file}: {exc.strerror or exc}",
                    expected="a readable PEM public key file (relative to the policy file)",
                    found=str(file),
                )
                return ()
        blocks = _PEM_BLOCK.findall(data)
        if not blocks:
            self.problem(
                (*path, kind),
                "no PEM public key found",
                expected="-----BEGIN PUBLIC KEY----- ...",
                found=data[:40].decode(errors="replace") or "empty",
            )
            return ()
        for block in blocks:
            try:
                load_pem_public_key(block)
            except (ValueError, TypeError) as exc:
                self.problem((*path, kind), f"malformed public key: {exc}", expected="a PKIX PEM public key")
                return ()
        return tuple(bytes(b) for b in blocks)

    def keyless(self, path: Path_, name: str, spec: Mapping[str, Any]) -> KeylessAuthority | None:
        root = self.keyless_root(path, name, spec)
        ok = root is not None
        identities: list[Identity] = []
        for j, ident in enumerate(spec["identities"]):
            for field in ("issuerRegExp", "subjectRegExp"):
                if field in ident:
                    try:
                        re.compile(ident[field])
                    except re.error as exc:
                        self.problem(
                            (*path, "identities", j, field), f"bad regular expression: {exc}", found=repr(ident[field])
                        )
                        ok = False
            if not ok:
                continue  # an Identity compiles its regexps when built
            identities.append(
                Identity(
                    ident.get("issuer"), ident.get("subject"), ident.get("issuerRegExp"), ident.get("subjectRegExp")
                )
            )
        if not ok or root is None:
            return None
        return KeylessAuthority(name, root, tuple(identities), bool(spec.get("requireTlog", True)))

    def names(self, path: Path_, names: Sequence[str], authorities: Mapping[str, Authority]) -> tuple[str, ...]:
        defined = [a["name"] for a in self.data["spec"]["authorities"]]
        for i, name in enumerate(names):
            if name not in defined:
                self.problem(
                    (*path, i),
                    f"unknown authority {name!r}",
                    expected="a name from spec.authorities",
                    found=name,
                    hint=did_you_mean(name, defined),
                )
        return tuple(names)

    def signatures(self, spec: Mapping[str, Any] | None, authorities: Mapping[str, Authority]) -> SignatureRule | None:
        if spec is None:
            return None
        path: Path_ = ("spec", "signatures")
        names = self.names((*path, "authorities"), spec["authorities"], authorities)
        threshold = int(spec.get("threshold", 1))
        if threshold > len(names):
            self.problem(
                (*path, "threshold"),
                "threshold is larger than the number of listed authorities",
                expected=f"1..{len(names)}",
                found=str(threshold),
                hint="list more authorities or lower the threshold; it can never be met",
            )
        return SignatureRule(names, threshold)

    def attestations(
        self, items: Sequence[Mapping[str, Any]], authorities: Mapping[str, Authority]
    ) -> tuple[AttestationRule, ...]:
        out: list[AttestationRule] = []
        seen: set[str] = set()
        typed: dict[str, str] = {}
        for i, item in enumerate(items):
            path: Path_ = ("spec", "attestations", i)
            name = item["name"]
            if name in seen:
                self.problem((*path, "name"), f"attestation {name!r} is listed twice", expected="unique names")
            seen.add(name)
            for kind in ("provenance", "vulnerabilities"):
                if kind in item:
                    if kind in typed:
                        self.problem(
                            (*path, kind),
                            f"`{kind}` rules already appear in attestation {typed[kind]!r}",
                            expected=f"`{kind}` rules in one attestation entry (their check ids are `{kind}.*`)",
                            hint="merge the rules into one entry",
                        )
                    typed.setdefault(kind, name)
            ptype = PREDICATE_ALIASES.get(item["predicateType"], item["predicateType"])
            out.append(
                AttestationRule(
                    name=name,
                    predicate_type=ptype,
                    authorities=self.names((*path, "authorities"), item["authorities"], authorities),
                    provenance=self.provenance((*path, "provenance"), item["provenance"])
                    if "provenance" in item
                    else None,
                    vulnerabilities=self.vulnerabilities(item["vulnerabilities"])
                    if "vulnerabilities" in item
                    else None,
                    conditions=self.conditions((*path, "conditions"), item.get("conditions", [])),
                )
            )
        return tuple(out)

    def provenance(self, path: Path_, spec: Mapping[str, Any]) -> ProvenanceRules:
        source = None
        if "source" in spec:
            s = spec["source"]
            source = SourceRules(
                repositories=self.globs(
                    (*path, "source", "repositories"), s.get("repositories", []), normalise=normalise_repo_pattern
                ),
                refs=self.globs((*path, "source", "refs"), s.get("refs", [])),
                require_commit=bool(s.get("requireCommit", False)),
            )
        tasks = spec.get("tasks", {})
        for flag in ("allowInline", "allowCluster"):
            if tasks.get(flag) and not tasks.get("trustedRefs"):
                self.problem(
                    (*path, "tasks", flag),
                    f"tasks.{flag} without tasks.trustedRefs has nothing to relax",
                    expected="tasks.trustedRefs with the patterns tasks must come from",
                    found=f"{flag}: true alone",
                    hint="add tasks.trustedRefs, or remove the flag",
                    key=True,
                )
        step = spec.get("stepImages")
        return ProvenanceRules(
            builder_ids=self.globs((*path, "builderIds"), spec.get("builderIds", []), normalise=normalise_pattern),
            build_types=self.globs((*path, "buildTypes"), spec.get("buildTypes", [])),
            source=source,
            tasks_required=tuple(tasks.get("required", [])),
            tasks_trusted_refs=self.globs(
                (*path, "tasks", "trustedRefs"), tasks.get("trustedRefs", []), normalise=normalise_repo_pattern
            ),
            tasks_allow_inline=bool(tasks.get("allowInline", False)),
            tasks_allow_cluster=bool(tasks.get("allowCluster", False)),
            step_images=None
            if step is None
            else StepImageRules(
                bool(step.get("requireDigest", True)),
                tuple(_registry_prefix(r) for r in step.get("allowedRegistries", [])),
            ),
            max_age=self.duration((*path, "maxAge"), spec.get("maxAge")),
        )

    def duration(self, path: Path_, text: str | None) -> timedelta | None:
        if text is None:
            return None
        value = parse_duration(text)
        if value <= timedelta(0):
            self.problem(path, "a maximum age of zero can never be met", expected="a positive duration", found=text)
        return value

    def vulnerabilities(self, spec: Mapping[str, Any]) -> VulnerabilityRules:
        return VulnerabilityRules(
            max_severity=spec.get("maxSeverity"),
            ignore_ids=frozenset(spec.get("ignoreIds", [])),
            ignore_unfixed=bool(spec.get("ignoreUnfixed", False)),
            max_age=parse_duration(spec["maxAge"]) if "maxAge" in spec else None,
        )

    def conditions(self, path: Path_, items: Sequence[Mapping[str, str]]) -> tuple[Condition, ...]:
        out: list[Condition] = []
        for i, item in enumerate(items):
            try:
                program = compile_expression(item["expr"])
            except CELCompileError as exc:
                self.problem(
                    (*path, i, "expr"),
                    f"CEL does not compile: {exc}",
                    found=item["expr"][:200],
                    hint="see https://github.com/google/cel-spec/blob/master/doc/langdef.md; variables: "
                    "statement, predicate, subject, predicateType",
                )
                continue
            out.append(Condition(item["expr"], item["message"], program))
        return tuple(out)

    def exceptions(self, items: Sequence[Mapping[str, Any]], known: Sequence[str]) -> tuple[PolicyException, ...]:
        out: list[PolicyException] = []
        for i, item in enumerate(items):
            path: Path_ = ("spec", "exceptions", i)
            images = self._compile((*path, "images"), item["images"], compile_image_glob, "image pattern")
            for j, check in enumerate(item["checks"]):
                if check in checkids.NEVER_EXEMPT:
                    self.problem(
                        (*path, "checks", j),
                        f"{check} cannot be exempted",
                        expected="a rule's check id",
                        found=check,
                        hint="a verification that could not complete, or an image no policy covers, "
                        "is never waived by an exception",
                    )
                elif check not in known:
                    self.problem(
                        (*path, "checks", j),
                        f"this policy produces no check {check!r}",
                        expected="a check id of this policy (docs/checks.md)",
                        found=check,
                        hint=did_you_mean(check, known),
                    )
            try:
                until = date.fromisoformat(item["until"])
            except ValueError as exc:
                self.problem((*path, "until"), f"not a date: {exc}", expected="YYYY-MM-DD", found=item["until"])
                continue
            out.append(PolicyException(i, images, tuple(item["checks"]), until, item["reason"]))
        return tuple(out)
