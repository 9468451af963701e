"""Load ImagePolicy files into a PolicySet: YAML -> schema -> semantic checks -> Policy.

`load_policies` reads every file (several documents per file allowed), validates each
document against `schemas/policy-v1alpha1.schema.json`, builds the Policy (compiling
patterns, regular expressions and CEL once, reading key material), and raises one
`PolicyLoadError` (a `slsacheck.errors.PolicyError`) listing every problem with file,
line and path. Nothing is loaded unless everything loads: a gate with half its policy
is not the gate that was reviewed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from slsacheck.policy.build import Builder
from slsacheck.policy.model import NO_MATCH_ORDER, NoMatch, Policy, PolicySet
from slsacheck.policy.problems import PolicyLoadError, Problem
from slsacheck.policy.schema import validate_document
from slsacheck.policy.yamlsource import line_at, parse_documents


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
            problems.extend(found)
            continue
        builder = Builder(doc.data, file, doc.node)
        # A Builder reports paths relative to the file, but problem file names must be
        # what the caller passed, so people can find them.
        policy = builder.build()
        problems.extend(_renamed(builder.problems, name))
        if not builder.problems:
            policies.append(policy)
    return policies, problems


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
    if problems:
        raise PolicyLoadError(problems)
    effective: NoMatch = "deny"
    if no_match is not None:
        effective = no_match
    elif policies:
        effective = min((p.no_match for p in policies), key=NO_MATCH_ORDER.index)
    return PolicySet(tuple(policies), effective)


def _name_line(policy: Policy) -> int | None:
    if policy.source is None:
        return None
    docs, _ = parse_documents(policy.source.read_text(encoding="utf-8"))
    for doc in docs:
        if isinstance(doc.data, dict) and doc.data.get("metadata", {}).get("name") == policy.name:
            return line_at(doc.node, ("metadata", "name"))
    return None
