"""Promotion: verify an image, then copy it with all its evidence to one or more places.

The order is the contract:

1. every destination reference is parsed and the policies are loaded before anything is
   read (a typo costs no registry call);
2. the source is judged by the gate (`slsacheck.verify.gate.verify_image`), which resolves
   its reference to a digest ONCE; if the verdict does not pass, the promotion is refused
   and no destination is opened, let alone written;
3. everything after is about that digest: the image is copied BY DIGEST (a tag moved at
   the source since the verdict cannot change what is promoted);
4. per destination, in this order: blobs, child manifests, the image or index (untagged);
   then its evidence (`slsacheck.promote.evidence`: `.sig`/`.att` merged, referrers and
   their fallback index); then the destination is judged, by digest, by the policies
   that judged the source plus those matching the destination's name
   (`slsacheck.promote.judging`: an `oci:` hand-over or a production registry the
   staging policy does not name is still judged, and judged by what vouched for the
   source); only if it passes there are the destination tags set, LAST, and read back
   (each must name the source digest). A destination therefore never shows a tag whose
   image is incomplete, or whose evidence has not arrived, or that does not verify there;
5. with a signer, a signed VSA (`slsacheck.promote.vsa`) about the destination's verdict
   is attached at the destination before its tags are set.

A source no policy matches is promoted only when `--no-match` (or the policies'
`noMatch`) is `allow` or `warn`: it is copied like any other, and the record and any VSA
say that no policy judged it (`verificationResult: FAILED`, no levels). `mode: warn`
works the same way: the tags are set, the summary says FAILED.

A destination that does not pass keeps what was copied (image and evidence, untagged)
and is reported as such (`tagsWithheld`); a re-run that passes there finishes it
(`resumed`), sending nothing twice.

Idempotent and resumable: everything present at a destination is left alone and reported
as present, so a re-run after an interruption sends only what is missing, and a re-run
after a success sends nothing (`DestinationResult.sent_nothing`). A destination that fails
or errors does not stop the others; the record says what happened where.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slsacheck.attach.sign import attest_image
from slsacheck.errors import EXIT_INCOMPLETE, EXIT_OK, EXIT_POLICY, Error, InputError
from slsacheck.models.descriptor import Manifest
from slsacheck.models.digest import Digest
from slsacheck.models.reference import DEFAULT_TAG, ImageRef
from slsacheck.oci.copy import copy, tagged
from slsacheck.oci.layout import LayoutStore
from slsacheck.oci.open import open_store
from slsacheck.oci.options import RegistryOptions
from slsacheck.oci.store import Store
from slsacheck.promote.evidence import copy_evidence
from slsacheck.promote.judging import Judge, judges_for, source_policies, verification_result
from slsacheck.promote.record import DestinationResult, PromotionRecord, TagResult
from slsacheck.promote.vsa import VSA_PREDICATE_TYPE, input_attestations, vsa_predicate
from slsacheck.verify.authorities import TrustRoots
from slsacheck.verify.gate import verify_image, verify_with_policies

if TYPE_CHECKING:
    from slsacheck.models.verdict import Verdict
    from slsacheck.policy.model import Policy, PolicySet
    from slsacheck.signing.signer import Signer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Destination:
    """One place to promote to, with the tags it gets."""

    text: str
    ref: ImageRef
    tags: tuple[str, ...]


def plan_destinations(texts: Sequence[str], source: ImageRef, tags: Sequence[str] = ()) -> list[Destination]:
    """Parse every destination; each gets `tags`, else its own tag, else the source's tag."""
    if not texts:
        raise InputError("no destination given", expected="at least one DST (REGISTRY/REPO[:TAG] or oci:DIR[:TAG])")
    default = source.tag or (DEFAULT_TAG if source.digest is None else None)
    out = []
    for text in texts:
        ref = ImageRef.parse(text)
        if ref.digest is not None:
            raise InputError(
                f"destination {text} names a digest",
                expected="REGISTRY/REPO[:TAG] or oci:DIR[:TAG]",
                found=str(ref.digest),
                hint="the digest promoted is the one verified at the source; name the destination by "
                "repository (and tag) only",
            )
        wanted = tuple(tags) or ((ref.tag,) if ref.tag else ((default,) if default else ()))
        for tag in wanted:
            ref.with_tag(tag)  # raises InvalidReference for a malformed tag
        out.append(Destination(text, ref, tuple(dict.fromkeys(wanted))))
    return out


def default_policy_uri(files: Sequence[str | Path], policy_set: PolicySet) -> str:
    """The policy's URI for a VSA: the one file's `file:` URI, or the policies' names."""
    if len(files) == 1:
        return Path(files[0]).resolve().as_uri()
    names = "+".join(sorted(p.name for p in policy_set.policies))
    return f"urn:slsacheck:policies:{names}"


def _open(ref: ImageRef, options: RegistryOptions | None, *, create: bool) -> Store:
    return open_store(ref, options, create=create)


@contextlib.contextmanager
def _destination_store(ref: ImageRef, options: RegistryOptions | None, dry_run: bool) -> Iterator[Store]:
    """The destination's store; a dry run never creates a layout, it plans against an
    empty one in a temporary directory instead."""
    if ref.layout is not None and dry_run and not (Path(ref.layout) / "oci-layout").is_file():
        with tempfile.TemporaryDirectory(prefix="slsacheck-plan-") as tmp:
            yield LayoutStore(Path(tmp) / "layout", create=True)
        return
    yield _open(ref, options, create=not dry_run)


@dataclass(frozen=True)
class _Run:
    """What every destination shares: the verified source, the policies, the options."""

    src: Store
    top: Manifest
    policy_set: PolicySet
    source_policies: tuple[Policy, ...]
    source_name: str  # registry/repository@digest (or oci:DIR@digest) of the source
    policy_uri: str
    options: RegistryOptions | None
    now: datetime | None
    roots: TrustRoots
    signer: Signer | None
    dry_run: bool

    @property
    def digest(self) -> Digest:
        return self.top.digest

    def destination(self, dest: Destination) -> DestinationResult:
        name = dest.ref.name
        try:
            with _destination_store(dest.ref, self.options, self.dry_run) as dst:
                return self._promote(dest, dst)
        except Error as exc:
            log.warning("promotion to %s failed: %s", dest.text, exc)
            # The user's input was checked before the source was verified: a malformed
            # manifest met at a destination is that destination's fault, not a usage error.
            code = EXIT_POLICY if exc.exit_code == EXIT_POLICY else EXIT_INCOMPLETE
            return DestinationResult(dest.text, name, "error", dest.tags, error=exc.diagnostics(), exit_code=code,
                                     judged_by=self.judges(dest))

    def judges(self, dest: Destination) -> tuple[Judge, ...]:
        return judges_for(self.source_policies, self.policy_set, dest.ref.name)

    def _promote(self, dest: Destination, dst: Store) -> DestinationResult:
        digest = self.digest
        name = dest.ref.name
        tags = dest.tags
        log.info("promoting %s to %s", digest, dest.text)
        judges = self.judges(dest)
        policies = [j.policy for j in judges]
        previous = {tag: tagged(dst, tag) for tag in tags}
        image = copy(self.src, dst, str(digest), tags=tags if self.dry_run else (), dry_run=self.dry_run)
        # Content already there under a tag that does not name it: an earlier run copied
        # it and withheld the tags; this run finishes that promotion.
        resumed = digest in image.manifests_present and any(previous[t] != digest for t in tags)
        evidence = copy_evidence(self.src, dst, self.top, dry_run=self.dry_run)
        if self.dry_run:
            tag_results = tuple(
                TagResult(t, "present" if previous[t] == digest else "set",
                          str(previous[t]) if previous[t] not in (None, digest) else None)
                for t in tags
            )
            return DestinationResult(dest.text, name, "planned", tags, image, evidence, tag_results,
                                     judged_by=judges, resumed=resumed)
        # A policy that judged the source judges the copy as it judged the source: its
        # exceptions keep matching the source's name, so the verdicts can only differ by
        # what arrived.
        as_source = {j.policy.name: self.source_name for j in judges if "source" in j.reasons}
        verdict = verify_with_policies(dest.ref.with_digest(digest).written_as(f"{name}@{digest}"), policies,
                                       self.policy_set, options=self.options, now=self.now, store=dst,
                                       roots=self.roots, exceptions_as=as_source)
        result = verification_result(verdict, policies)
        vsa = self._attach_vsa(dest, dst, verdict, policies) if self.signer is not None else None
        if not verdict.passed:
            code = EXIT_INCOMPLETE if verdict.outcome == "error" else EXIT_POLICY
            return DestinationResult(dest.text, name, "error" if code == EXIT_INCOMPLETE else "failed", tags, image,
                                     evidence, (), verdict, vsa=vsa, exit_code=code, judged_by=judges,
                                     verification_result=result, tags_withheld=bool(tags), resumed=resumed,
                                     error="the promoted image does not pass the policies at this destination; "
                                     "its image and evidence were copied and its tags withheld: fix what failed "
                                     "and run the promotion again to finish it")
        final = copy(self.src, dst, str(digest), tags=tags)
        tag_results = tuple(
            TagResult(t, "present" if t in final.tags_present else "set",
                      str(previous[t]) if previous[t] not in (None, digest) else None)
            for t in tags
        )
        found = [tagged(dst, t) for t in tags] if tags else [dst.resolve(str(digest)).digest]
        matches = all(f == digest for f in found)
        shown = next((f for f in found if f != digest), digest) if found else None
        return DestinationResult(
            dest.text, name, "promoted" if matches else "error", tags, image, evidence, tag_results, verdict,
            str(shown) if shown else None, matches, vsa, exit_code=EXIT_OK if matches else EXIT_INCOMPLETE,
            judged_by=judges, verification_result=result, resumed=resumed,
        )

    def _attach_vsa(
        self, dest: Destination, dst: Store, verdict: Verdict, policies: Sequence[Policy]
    ) -> dict[str, Any]:

        assert self.signer is not None
        digest = self.digest
        predicate = vsa_predicate(
            resource_uri=f"{dest.ref.name}@{digest}",
            verdict=verdict,
            policies=policies,
            policy_uri=self.policy_uri,
            policy_digest=self.policy_set.digest(),
            inputs=input_attestations(dst, digest, verdict),
            time_verified=datetime.now(UTC),
        )
        attached = attest_image(dst, dest.ref.with_digest(digest), self.signer, predicate_type=VSA_PREDICATE_TYPE,
                                predicate=predicate, fmt="both")
        return {
            "predicateType": VSA_PREDICATE_TYPE,
            "verificationResult": predicate["verificationResult"],
            "verifiedLevels": predicate["verifiedLevels"],
            "tag": attached.tag,
            "bundle": str(attached.bundle) if attached.bundle else None,
        }


def promote(
    source: str,
    destinations: Sequence[str],
    policy_set: PolicySet,
    *,
    policy_files: Sequence[str | Path] = (),
    options: RegistryOptions | None = None,
    tags: Sequence[str] = (),
    dry_run: bool = False,
    signer: Signer | None = None,
    policy_uri: str | None = None,
    now: datetime | None = None,
) -> PromotionRecord:
    """Verify `source` against `policy_set`, then copy it with its evidence to every destination."""
    started = datetime.now(UTC)
    src_ref = ImageRef.parse(source)
    planned = plan_destinations(destinations, src_ref, tags)
    roots = TrustRoots()
    verdict = verify_image(src_ref, policy_set, options=options, now=now, roots=roots)
    files = tuple(str(f) for f in policy_files)

    def record(results: Sequence[DestinationResult], judged: Verdict) -> PromotionRecord:
        return PromotionRecord(source, judged.digest, judged, files, policy_set.digest(), started,
                               datetime.now(UTC), dry_run, tuple(results),
                               verification_result(judged, source_policies(judged, policy_set)))

    if not verdict.passed:
        log.info("refusing to promote %s: verdict %s", source, verdict.outcome)
        return record((), verdict)
    try:
        src = _open(src_ref, options, create=False)
        # No policy judged the source and noMatch let it through: the gate made no
        # registry call, so the source is resolved here, ONCE, and that digest promoted.
        top = src.fetch_manifest(verdict.digest or src_ref.identifier)
    except Error as exc:
        return record((), replace(verdict, incomplete=(f"reading {source}: {exc}",)))
    verdict = replace(verdict, digest=str(top.digest))
    run = _Run(src, top, policy_set, tuple(source_policies(verdict, policy_set)), f"{src_ref.name}@{top.digest}",
               policy_uri or default_policy_uri(policy_files, policy_set), options, now, roots, signer, dry_run)
    return record([run.destination(d) for d in planned], verdict)
