"""The gate: an image reference and a policy set in, a Verdict out.

The order is the contract:

1. the policies whose `images` match the reference are chosen from its NAME, before any
   registry call; an image no policy matches is decided by `noMatch` there and then;
2. every keyless authority's trusted root is read (a bad path is the operator's error,
   raised before the image is touched);
3. the reference is resolved to a digest ONCE, by fetching the manifest (the digest is
   the hash of the bytes we got); everything after uses that digest, so a tag moved
   meanwhile cannot change what is judged, and the verdict prints the digest judged;
4. candidates are collected once, from every place (`.sig`, `.att`, referrers), and
   checked against each policy's authorities (shared results for shared authorities);
5. each policy evaluates its evidence; the checks are merged into one Verdict. The
   evidence the verdict shows lists as verified only attestations an attestation entry
   trusts (`policy.evaluate.accepted_by`); one verified by an authority trusted for
   signatures only is shown rejected, so no report draws a level, builder or source from it.

A registry error, a missing image, or bytes that do not match their digest make the
verdict `error` (exit 3): a verification that could not complete never passes.

A `Gate` owns what stays the same across the verifications of one run: the registry
options, the clock, the trusted roots (each read once) and the registry client pool. The
functions `verify_image`, `verify_with_policies`, `verify_images` and `judge_image` build
one for a single call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from slsacheck.attach.candidates import collect_candidates
from slsacheck.attach.reading import DEFAULT_LIMITS, Limits
from slsacheck.errors import EXIT_INCOMPLETE, EXIT_OK, EXIT_POLICY, Error
from slsacheck.models.evidence import Evidence, Rejected, VerifiedAttestation
from slsacheck.models.reference import ImageRef
from slsacheck.models.verdict import Check, Verdict
from slsacheck.oci.open import ClientPool, open_store
from slsacheck.oci.options import RegistryOptions
from slsacheck.oci.store import Store
from slsacheck.policy.authority import Authority
from slsacheck.verify.authorities import TrustRoots
from slsacheck.verify.collect import Checker, evidence_from

if TYPE_CHECKING:
    from slsacheck.policy.model import Policy, PolicySet

Judge = Callable[[Evidence], Sequence[Check]]


def limits_of(options: RegistryOptions | None) -> Limits:
    """The evidence limits of one verification under `options` (the defaults without)."""
    return Limits(evidence_bytes=options.max_evidence_bytes) if options is not None else DEFAULT_LIMITS


@dataclass(frozen=True)
class Gate:
    """The settings every verification of a run shares.

    `now` fixes the clock (policy ages, certificate validity); None reads the wall clock when
    a verification starts. `pool` holds the registry clients (the process's shared pool
    without). `roots` caches trusted roots by path for the gate's lifetime.
    """

    options: RegistryOptions | None = None
    now: datetime | None = None
    roots: TrustRoots = field(default_factory=TrustRoots)
    pool: ClientPool | None = None

    def clock(self) -> datetime:
        return self.now or datetime.now(UTC)

    @property
    def limits(self) -> Limits:
        return limits_of(self.options)

    def open(self, ref: ImageRef) -> Store:
        return open_store(ref, self.options, pool=self.pool)

    def verify(self, ref: ImageRef, policy_set: PolicySet, *, store: Store | None = None) -> Verdict:
        """Judge one image against every policy of `policy_set` whose images match it."""
        return self.verify_with(ref, policy_set.matching(ref), policy_set, store=store)

    def verify_with(
        self,
        ref: ImageRef,
        policies: Sequence[Policy],
        policy_set: PolicySet,
        *,
        store: Store | None = None,
        exceptions_as: Mapping[str, str] | None = None,
    ) -> Verdict:
        """Judge one image against exactly `policies`, chosen by the caller rather than by the
        image's name (a promotion judges a copy by the policies that judged its source); with
        none, `policy_set`'s noMatch decides, as in `verify`. `exceptions_as` maps a policy's
        name to the image name its exceptions are matched against (a copy judged as its source
        was), instead of this image's."""
        if not policies:
            return no_match_verdict(ref, policy_set)
        from slsacheck.policy.evaluate import accepted_by  # noqa: PLC0415 - CEL loads only for policies

        # One instant for every check of this image: the policies' ages and the signatures' validity.
        gate = replace(self, now=self.clock())
        renamed = exceptions_as or {}
        judges = [(p.authorities, _judged_as(_policy_judge(p, gate.clock()), renamed.get(p.name))) for p in policies]

        def trusted(att: VerifiedAttestation, evidence: Evidence) -> bool:
            return any(accepted_by(p, att, evidence) for p in policies)

        return gate.judge_many(ref, judges, policies=tuple(p.name for p in policies), store=store, trusted=trusted)

    def verify_all(self, refs: Sequence[ImageRef], policy_set: PolicySet) -> list[Verdict]:
        """Judge several images at one instant."""
        gate = replace(self, now=self.clock())
        return [gate.verify(ref, policy_set) for ref in refs]

    def judge(
        self,
        ref: ImageRef,
        authorities: Mapping[str, Authority],
        judge: Judge,
        *,
        policies: Sequence[str],
        store: Store | None = None,
    ) -> Verdict:
        """Resolve `ref` once, collect its evidence against `authorities`, and apply `judge`."""
        return self.judge_many(ref, [(authorities, judge)], policies=policies, store=store)

    def judge_many(
        self,
        ref: ImageRef,
        judges: Sequence[tuple[Mapping[str, Authority], Judge]],
        *,
        policies: Sequence[str],
        store: Store | None = None,
        trusted: Callable[[VerifiedAttestation, Evidence], bool] | None = None,
    ) -> Verdict:
        """Steps 2 to 5 of the contract for `judges` (authorities, and what judges their evidence).
        The verdict names the image as `ref` was written (`ImageRef.display`)."""
        text = ref.display
        for authorities, _ in judges:
            self.roots.prepare(authorities)  # configuration errors surface before any registry call
        try:
            store = store if store is not None else self.open(ref)
            manifest = store.fetch_manifest(ref.identifier)
        except Error as exc:
            # Whatever kept us from reading the image (unreachable, refused, not found, bytes
            # that are not a manifest) is this image's `error` verdict; the others go on.
            what = f"resolving {text}: {exc}"
            return Verdict(text, str(ref.digest) if ref.digest else None, tuple(policies), (), incomplete=(what,))
        digest = manifest.digest
        candidates = collect_candidates(store, digest, limits=self.limits)
        checker = Checker(digest, manifest=manifest.raw, now=self.now, roots=self.roots)
        checks: list[Check] = []
        for authorities, judge in judges:
            evidence = evidence_from(candidates, authorities, text, checker)
            checks.extend(judge(evidence))
        if len(judges) > 1:
            # One policy's authorities may reject what another's accept: show the union.
            union = {name: a for authorities, _ in judges for name, a in authorities.items()}
            evidence = evidence_from(candidates, union, text, checker)
        if trusted is not None:
            evidence = _only_trusted_attestations(evidence, trusted)
        # Everything that left evidence unread was recorded once, while collecting.
        return Verdict(text, str(digest), tuple(policies), tuple(checks), tuple(candidates.incomplete), evidence)


def _only_trusted_attestations(
    evidence: Evidence, trusted: Callable[[VerifiedAttestation, Evidence], bool]
) -> Evidence:
    """The evidence a verdict shows: an attestation that verified for some authority but that
    no attestation entry trusts (a key trusted for signatures, not provenance) is shown as
    rejected, with that reason, so no report takes a level, builder or source from it."""
    kept = [a for a in evidence.attestations if trusted(a, evidence)]
    accepted_sources = {a.source for a in kept}
    untrusted: dict[str, list[VerifiedAttestation]] = {}
    for att in evidence.attestations:
        if att.source not in accepted_sources:
            untrusted.setdefault(att.source, []).append(att)
    rejected = [
        Rejected("attestation", source, "verified, but no matching policy trusts "
                 + ", ".join(f"{a.authority} ({a.signer.describe()})" for a in atts)
                 + f" for {atts[0].predicate_type} attestations", predicate_type=atts[0].predicate_type)
        for source, atts in untrusted.items()
    ]
    return replace(evidence, attestations=tuple(kept), rejected=(*evidence.rejected, *rejected))


def no_match_verdict(ref: ImageRef, policy_set: PolicySet) -> Verdict:
    """The verdict for an image no policy's `images` match, decided without a registry call."""
    from slsacheck.policy.evaluate import no_match_verdict as decide  # noqa: PLC0415 - CEL loads only for policies

    return decide(ref.display, ref.digest, policy_set.no_match)


def _policy_judge(policy: Policy, now: datetime) -> Judge:
    from slsacheck.policy.evaluate import evaluate  # noqa: PLC0415 - CEL loads only for policies

    def run(evidence: Evidence) -> Sequence[Check]:
        checks: Sequence[Check] = evaluate(policy, evidence, now=now)
        return checks

    return run


def _judged_as(judge: Judge, image: str | None) -> Judge:
    if image is None:
        return judge

    def as_image(evidence: Evidence) -> Sequence[Check]:
        return judge(replace(evidence, image=image))

    return as_image


def _gate(options: RegistryOptions | None, now: datetime | None, roots: TrustRoots | None) -> Gate:
    return Gate(options, now, roots if roots is not None else TrustRoots())


def judge_image(
    ref: ImageRef,
    authorities: Mapping[str, Authority],
    judge: Judge,
    *,
    policies: Sequence[str],
    options: RegistryOptions | None = None,
    now: datetime | None = None,
    store: Store | None = None,
    roots: TrustRoots | None = None,
) -> Verdict:
    """`Gate.judge` for one call."""
    return _gate(options, now, roots).judge(ref, authorities, judge, policies=policies, store=store)


def verify_image(
    ref: ImageRef,
    policy_set: PolicySet,
    *,
    options: RegistryOptions | None = None,
    now: datetime | None = None,
    store: Store | None = None,
    roots: TrustRoots | None = None,
) -> Verdict:
    """Judge one image against every policy of `policy_set` whose images match it (`Gate.verify`)."""
    return _gate(options, now, roots).verify(ref, policy_set, store=store)


def verify_with_policies(
    ref: ImageRef,
    policies: Sequence[Policy],
    policy_set: PolicySet,
    *,
    options: RegistryOptions | None = None,
    now: datetime | None = None,
    store: Store | None = None,
    roots: TrustRoots | None = None,
    exceptions_as: Mapping[str, str] | None = None,
) -> Verdict:
    """Judge one image against exactly `policies` (`Gate.verify_with`)."""
    return _gate(options, now, roots).verify_with(ref, policies, policy_set, store=store, exceptions_as=exceptions_as)


def verify_images(
    refs: Sequence[ImageRef],
    policy_set: PolicySet,
    *,
    options: RegistryOptions | None = None,
    now: datetime | None = None,
    roots: TrustRoots | None = None,
) -> list[Verdict]:
    """Judge several images; trusted roots read once (`Gate.verify_all`)."""
    return _gate(options, now, roots).verify_all(refs, policy_set)


def exit_code(verdicts: Sequence[Verdict]) -> int:
    """3 if any verification could not complete, else 1 if any failed, else 0."""
    if any(v.outcome == "error" for v in verdicts):
        return EXIT_INCOMPLETE
    if any(v.outcome == "fail" for v in verdicts):
        return EXIT_POLICY
    return EXIT_OK
