"""Load ImagePolicy files into a PolicySet: YAML -> schema -> semantic checks -> Policy.

`load_policies` reads every file (several documents per file allowed), validates each
document against `schemas/policy-v1alpha1.schema.json`, builds the Policy (compiling
patterns, regular expressions and CEL once, reading key material), and raises one
`PolicyLoadError` (a `slsacheck.errors.PolicyError`) listing every problem with file,
line and path. Nothing is loaded unless everything loads: a gate with half its policy
is not the gate that was reviewed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import yaml

from slsacheck.policy.build import Builder
from slsacheck.policy.globs import Glob, compile_image_glob
from slsacheck.policy.model import NO_MATCH_ORDER, NoMatch, Policy, PolicySet
from slsacheck.policy.problems import PolicyLoadError, Problem
from slsacheck.policy.schema import validate_document
from slsacheck.policy.yamlsource import format_path, line_at, parse_documents


def check_file(path: str | Path) -> tuple[list[Policy], list[Problem]]:
    """The policies in one file and the problems found (lint uses this directly)."""
    file = Path(path)
    name = str(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return [], [
            Problem(name, None, "(file)", f"cannot read policy file: {reason}", expected="a readable UTF-8 YAML file")
        ]
    docs, yaml_problems = parse_documents(text)
    if yaml_problems:
        return [], [Problem(name, p.line, "(document)", p.message) for p in yaml_problems]
    if not docs:
        return [], [
            Problem(
                name,
                1,
                "(document)",
                "no policy in this file",
                expected="at least one `kind: ImagePolicy` document",
                found="an empty file",
            )
        ]
    policies: list[Policy] = []
    problems: list[Problem] = []
    for doc in docs:
        found = validate_document(doc.data, name, doc.node)
        if found:
            # The files a policy names are checked too, so one round of fixes is enough.
            problems.extend(found)
            problems.extend(_file_reference_problems(doc.data, file, name, doc.node))
            continue
        builder = Builder(doc.data, file, doc.node)
        # A Builder reports paths relative to the file, but problem file names must be
        # what the caller passed, so people can find them.
        policy = builder.build()
        problems.extend(_renamed(builder.problems, name))
        if not builder.problems:
            policies.append(policy)
    return policies, problems


def _file_reference_problems(data: object, file: Path, name: str, root: yaml.Node) -> list[Problem]:
    """Key files and trusted roots of a document the schema refused, that cannot be read.

    The Builder checks them on a valid document; here the document's shape is not to be
    trusted, so only what is where it belongs is looked at."""
    spec = data.get("spec") if isinstance(data, Mapping) else None
    authorities = spec.get("authorities") if isinstance(spec, Mapping) else None
    problems: list[Problem] = []
    for i, authority in enumerate(authorities if isinstance(authorities, list) else []):
        if not isinstance(authority, Mapping):
            continue
        for section, field, what in (("key", "file", "key file"), ("key", "trustedRoot", "trusted root"),
                                     ("keyless", "trustedRoot", "trusted root")):
            body = authority.get(section)
            value = body.get(field) if isinstance(body, Mapping) else None
            if not isinstance(value, str):
                continue
            target = (file.parent / value).resolve()
            if target.is_file() and os.access(target, os.R_OK):
                continue
            path = ("spec", "authorities", i, section, field)
            problems.append(Problem(
                name, line_at(root, path), format_path(path), f"cannot read {what} {target}",
                expected=f"a readable {what} (relative to the policy file)", found=str(target)))
    return problems


def _renamed(problems: Sequence[Problem], name: str) -> list[Problem]:
    return [Problem(name, p.line, p.path, p.message, p.expected, p.found, p.hint) for p in problems]


def load_policies(paths: Sequence[str | Path], *, no_match: NoMatch | None = None) -> PolicySet:
    """Every policy in `paths`, or PolicyLoadError with every problem in every file.

    `no_match` (the caller's `--no-match`) overrides the files' `spec.noMatch`; without
    it the strictest value among the files applies, so adding a file never loosens it.
    """
    if not paths:
        raise PolicyLoadError(
            [Problem("(none)", None, "(arguments)", "no policy file given", expected="at least one policy file")]
        )
    policies: list[Policy] = []
    problems: list[Problem] = []
    for path in paths:
        found, errs = check_file(path)
        policies.extend(found)
        problems.extend(errs)
    seen: dict[str, Policy] = {}
    for policy in policies:
        other = seen.get(policy.name)
        if other is not None:
            problems.append(
                Problem(
                    str(policy.source),
                    _name_line(policy),
                    "metadata.name",
                    f"policy name {policy.name!r} is also used in {other.source}",
                    expected="policy names unique across the loaded files",
                    hint="check ids and reports name policies; rename one",
                )
            )
        seen[policy.name] = policy
    aliases = _set_aliases(policies, problems)
    if problems:
        raise PolicyLoadError(problems)
    if aliases:
        policies = [_with_aliases(p, aliases) for p in policies]
    effective: NoMatch = "deny"
    if no_match is not None:
        effective = no_match
    elif policies:
        effective = min((p.no_match for p in policies), key=NO_MATCH_ORDER.index)
    return PolicySet(tuple(policies), effective)


def _set_aliases(policies: Sequence[Policy], problems: list[Problem]) -> dict[str, str]:
    """One alias map for the whole set (chains resolved), or problems for conflicts and cycles."""
    declared: dict[str, tuple[str, Policy]] = {}
    for policy in policies:
        for alias, registry in policy.declared_aliases.items():
            other = declared.get(alias)
            if other is not None and other[0] != registry:
                problems.append(Problem(
                    str(policy.source), None, "spec.registryAliases",
                    f"{alias!r} is an alias of {registry!r} here and of {other[0]!r} in policy {other[1].name!r}",
                    expected="each alias for one registry across the loaded files",
                    hint="one registry has one name: declare the alias once, for the registry it serves",
                ))
            declared.setdefault(alias, (registry, policy))
    out: dict[str, str] = {}
    for alias in declared:
        seen = [alias]
        target = declared[alias][0]
        while target in declared:
            if target in seen:
                problems.append(Problem(
                    str(declared[alias][1].source), None, "spec.registryAliases",
                    f"registry aliases form a cycle: {' -> '.join([*seen, target])}",
                    expected="aliases that lead to one registry", hint="remove one of the declarations",
                ))
                break
            seen.append(target)
            target = declared[target][0]
        out[alias] = target
    return out


def _with_aliases(policy: Policy, aliases: Mapping[str, str]) -> Policy:
    """`policy` choosing images by the set's alias map: its image patterns respelled with it."""
    def respell(globs: Sequence[Glob]) -> tuple[Glob, ...]:
        return tuple(compile_image_glob(g.pattern, aliases) for g in globs)

    exceptions = tuple(replace(e, images=respell(e.images)) for e in policy.exceptions)
    return replace(policy, include=respell(policy.include), exclude=respell(policy.exclude), exceptions=exceptions,
                   registry_aliases=MappingProxyType(dict(aliases)))


def _name_line(policy: Policy) -> int | None:
    if policy.source is None:
        return None
    docs, _ = parse_documents(policy.source.read_text(encoding="utf-8"))
    for doc in docs:
        if isinstance(doc.data, dict) and doc.data.get("metadata", {}).get("name") == policy.name:
            return line_at(doc.node, ("metadata", "name"))
    return None
