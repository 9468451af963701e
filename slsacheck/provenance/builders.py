"""Who the provenance says built the image: builder ids, and the SLSA level each can carry.

A builder id names the trust boundary that produced and signed the provenance, not the
format it is written in. slsacheck writes three kinds:

| mode | default builder id | chosen by |
|---|---|---|
| exported run (`generate --run`) | `<identity>/exported-run` | default |
| in a Tekton step (`slsacheck-attest-provenance`) | `<identity>/in-step/<Task name>` | default in-step |
| reproducing Tekton Chains | `https://tekton.dev/chains/v2` | `--reproduce-chains` |

`<identity>` is the cluster's builder identity (`--builder-identity`, else
`$SLSACHECK_BUILDER_IDENTITY`, else `https://slsacheck.dev/builders/tekton`); the Task
name comes from `$(context.task.name)`. `--builder-id` replaces the whole id.

Levels (SLSA v1.0 build track). L3 needs provenance the build's tenant cannot forge: it is
made and signed by the build platform, with a key no user-defined step can reach. Neither
slsacheck mode gives that: in-step provenance is signed by a step of the tenant's own
pipeline, which holds the key and whose inputs earlier steps wrote; exported-run provenance
is made from objects whoever runs the command could edit. Both are L2 at most (signed
provenance from a hosted build platform), whatever a policy says of the builder.
`max_level` says so for a builder id of either shape; Tekton Chains (its controller signs,
outside the build's pods) can reach L3 where the policy pins it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CHAINS_BUILDER_ID = "https://tekton.dev/chains/v2"
DEFAULT_IDENTITY = "https://slsacheck.dev/builders/tekton"
IDENTITY_ENVIRONMENT = "SLSACHECK_BUILDER_IDENTITY"
EXPORTED = "exported-run"
IN_STEP = "in-step"
# internalParameters entry naming the mode that made the provenance (not written when
# reproducing Chains).
GENERATOR_KEY = "slsacheck.dev/generator"


def exported_builder_id(identity: str = "") -> str:
    return f"{(identity or DEFAULT_IDENTITY).rstrip('/')}/{EXPORTED}"


def in_step_builder_id(identity: str = "", task: str = "") -> str:
    base = f"{(identity or DEFAULT_IDENTITY).rstrip('/')}/{IN_STEP}"
    return f"{base}/{task}" if task else base


def generator_mode(builder_id: str, predicate: Mapping[str, Any] | None = None) -> str | None:
    """`in-step` or `exported-run` when the provenance says slsacheck made it that way."""
    internal = _internal(predicate)
    declared = internal.get(GENERATOR_KEY) if isinstance(internal, Mapping) else None
    if isinstance(declared, Mapping) and declared.get("mode") in (IN_STEP, EXPORTED):
        return str(declared["mode"])
    path = builder_id.split("?", 1)[0].rstrip("/")
    if path.endswith("/" + EXPORTED):
        return EXPORTED
    if f"/{IN_STEP}/" in path + "/":
        return IN_STEP
    return None


def max_level(builder_id: str, predicate: Mapping[str, Any] | None = None) -> tuple[int, str] | None:
    """The highest SLSA build level this builder's provenance can support, with the reason,
    or None when nothing limits it below L3."""
    mode = generator_mode(builder_id, predicate)
    if mode == IN_STEP:
        return 2, (
            "made and signed inside a step of the build's own pipeline (in-step provenance): the tenant "
            "controls the step that holds the key, so the provenance is not unforgeable (L3)"
        )
    if mode == EXPORTED:
        return 2, (
            "made from exported run objects outside the build platform: whoever runs the generator "
            "could edit them, so the provenance is not unforgeable (L3)"
        )
    return None


def _internal(predicate: Mapping[str, Any] | None) -> Any:
    if not isinstance(predicate, Mapping):
        return None
    definition = predicate.get("buildDefinition")
    return definition.get("internalParameters") if isinstance(definition, Mapping) else None
