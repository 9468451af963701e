"""`slsacheck demo`: the whole flow on the embedded default, OCI layout directories.

No registry, no network, no prompt: the demo builds a small real image (a tar layer of one
file, an OCI config, a manifest) for two platforms and an index over them, then walks it
through what a release does: a key pair (empty password, through the API), a recursive
signature, SLSA v1 provenance from a synthetic Tekton PipelineRun that built it, an
attestation of that provenance, a policy, a verdict, a promotion with all its evidence to a
second layout (verified there, and idempotent), and finally a policy the image must fail,
to show that the gate fails closed with the check and a hint.

The demo is a list of `Step`s run in order over one `DemoContext`. A step returns the
lines it prints and raises `DemoFailed` (or any slsacheck error) when what it shows is not
what it should be, so the demo doubles as a smoke test of the main job: it exits 0 only
when every expected outcome happened (the expected failure included). Verdicts are also
written as JSON under `verdicts/`, next to the layouts, keys, run objects and policies.
The inputs the demo invents (the run objects, the policies) live in `demo_inputs`.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slsacheck.errors import InputError, VerificationError

if TYPE_CHECKING:
    from slsacheck.models.verdict import Verdict
    from slsacheck.promote.record import DestinationResult
    from slsacheck.signing.signer import Signer

TAG = "demo"


class DemoFailed(VerificationError):
    """A demo step saw something other than what the flow promises."""


@dataclass
class DemoContext:
    """What the steps share: where the layouts are, and what earlier steps produced."""

    root: Path
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> Path:
        return self.root / "source"

    @property
    def destination(self) -> Path:
        return self.root / "copy"


@dataclass(frozen=True)
class Step:
    title: str
    run: Callable[[DemoContext], list[str]]


def _build(ctx: DemoContext) -> list[str]:
    from slsacheck.models.descriptor import Platform  # noqa: PLC0415 - keep --help fast
    from slsacheck.oci import scratch  # noqa: PLC0415 - keep --help fast
    from slsacheck.oci.layout import LayoutStore  # noqa: PLC0415 - keep --help fast

    images = [
        scratch.image({"etc/greeting": f"hello from {arch}\n".encode()}, platform=Platform("linux", arch))
        for arch in ("amd64", "arm64")
    ]
    index = scratch.index(images)
    store = LayoutStore(ctx.source, create=True)
    descriptor = scratch.push(store, index, tag=TAG)
    ctx.facts["digest"] = descriptor.digest
    ctx.facts["platforms"] = tuple(image.digest for image in images)
    ctx.facts["source_ref"] = f"oci:{ctx.source}:{TAG}"
    lines = [f"wrote {ctx.facts['source_ref']}", f"index {descriptor.digest}"]
    for image in images:
        lines.append(f"  {image.platform}: {image.digest}  (1 layer, {len(image.blobs[1][1])} bytes gzip)")
    return lines


def _inspect(ctx: DemoContext) -> list[str]:
    from slsacheck.cli.oci_commands import inspect_image, render_inspect  # noqa: PLC0415 - keep --help fast
    from slsacheck.oci.layout import LayoutStore  # noqa: PLC0415 - keep --help fast

    info = inspect_image(LayoutStore(ctx.source), TAG, ctx.facts["source_ref"])
    if info["digest"] != str(ctx.facts["digest"]) or len(info.get("platforms", [])) != 2:
        raise DemoFailed("inspect does not show the index just built", expected=str(ctx.facts["digest"]),
                         found=info["digest"])
    out = io.StringIO()
    render_inspect(info, out)
    return out.getvalue().splitlines()


def _keys(ctx: DemoContext) -> list[str]:
    from slsacheck.signing.keys import describe, fingerprint, generate_key_pair, load_public_key  # noqa: PLC0415

    private, public = generate_key_pair(b"")  # the API takes the password: no prompt, no environment
    folder = ctx.root / "keys"
    folder.mkdir(exist_ok=True)
    key, pub = folder / "cosign.key", folder / "cosign.pub"
    key.write_bytes(private)
    key.chmod(0o600)
    pub.write_bytes(public)
    ctx.facts["key"], ctx.facts["public_key"] = key, pub
    verifying = load_public_key(public)
    return [f"wrote {key} (encrypted, empty password) and {pub.name}",
            f"{describe(verifying)} key {fingerprint(verifying)}"]


def _signer(ctx: DemoContext) -> Signer:
    from slsacheck.signing.resolve import load_signer  # noqa: PLC0415 - crypto loads only when signing

    if "signer" not in ctx.facts:
        ctx.facts["signer"] = load_signer(str(ctx.facts["key"]), password=lambda: b"")
    signer: Signer = ctx.facts["signer"]
    return signer


def _sign(ctx: DemoContext) -> list[str]:
    from slsacheck.attach.sign import sign_image  # noqa: PLC0415 - crypto loads only when signing
    from slsacheck.models.reference import ImageRef  # noqa: PLC0415
    from slsacheck.oci.layout import LayoutStore  # noqa: PLC0415

    results = sign_image(LayoutStore(ctx.source), ImageRef.parse(ctx.facts["source_ref"]), _signer(ctx),
                         recursive=True, fmt="both")
    signed = {r.digest for r in results}
    wanted = {ctx.facts["digest"], *ctx.facts["platforms"]}
    if signed != wanted or any(r.tag is None or r.bundle is None for r in results):
        raise DemoFailed("the recursive signature did not cover the index and both platforms in both places",
                         expected=", ".join(sorted(map(str, wanted))), found=", ".join(sorted(map(str, signed))))
    ctx.facts["signed"] = tuple(r.digest for r in results)
    return [f"signed the index and its {len(results) - 1} platform manifests with {ctx.facts['key'].name}",
            f"each: a layer of its sha256-<hex>.sig tag and a Sigstore bundle referrer ({len(results)} of each)"]


def _provenance(ctx: DemoContext) -> list[str]:
    from slsacheck.cli import demo_inputs  # noqa: PLC0415
    from slsacheck.provenance.generate import generate_from_files  # noqa: PLC0415 - jsonschema loads here

    folder = ctx.root / "run"
    folder.mkdir(exist_ok=True)
    paths = []
    for name, doc in demo_inputs.pipeline_run(str(ctx.facts["digest"]), datetime.now(UTC)).items():
        (folder / name).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        paths.append(folder / name)
    generated = generate_from_files(paths[0], paths[1:])
    statement = generated.statement
    if generated.warnings:
        raise DemoFailed("the demo's run should give provenance without warnings",
                         found="; ".join(str(w) for w in generated.warnings))
    if not statement.names_digest(ctx.facts["digest"]):
        raise DemoFailed("the provenance is not about the image built", expected=str(ctx.facts["digest"]),
                         found=", ".join(s.name for s in statement.subjects))
    deps = statement.predicate["buildDefinition"]["resolvedDependencies"]
    git = [d for d in deps if str(d.get("uri", "")).startswith("git+")]
    if [d.get("digest") for d in git] != [{"sha1": demo_inputs.GIT_COMMIT}]:
        raise DemoFailed("the source is not pinned by its commit", expected=f"sha1 {demo_inputs.GIT_COMMIT}",
                         found=json.dumps(git))
    out = ctx.root / "provenance.json"
    out.write_text(statement.to_json(), encoding="utf-8")
    ctx.facts["statement"] = statement
    subject = statement.subjects[0]
    return [f"{folder.name}/{paths[0].name} + {len(paths) - 1} TaskRuns -> {out.name}: subject "
            f"{subject.name}@sha256:{subject.digest['sha256'][:12]}...",
            f"builder {statement.predicate['runDetails']['builder']['id']}, source {git[0]['uri']} at commit "
            f"{demo_inputs.GIT_COMMIT[:12]}, {len(deps) - 1} other dependencies"]


def _attest(ctx: DemoContext) -> list[str]:
    from slsacheck.attach.sign import attest_image  # noqa: PLC0415 - crypto loads only when signing
    from slsacheck.models.reference import ImageRef  # noqa: PLC0415
    from slsacheck.oci.layout import LayoutStore  # noqa: PLC0415

    statement = ctx.facts["statement"]
    ref = ImageRef.parse(ctx.facts["source_ref"]).with_digest(ctx.facts["digest"])
    attached = attest_image(LayoutStore(ctx.source), ref, _signer(ctx), predicate_type=statement.predicate_type,
                            predicate=dict(statement.predicate), fmt="both")
    if attached.digest != ctx.facts["digest"] or attached.tag is None or attached.bundle is None:
        raise DemoFailed("the attestation was not written in both places", found=str(attached))
    return [f"attested {statement.predicate_type} on the index (DSSE, signed with {ctx.facts['key'].name})",
            f"{attached.tag} and bundle referrer {attached.bundle}"]


def _policies(ctx: DemoContext) -> list[str]:
    from slsacheck.cli import demo_inputs  # noqa: PLC0415
    from slsacheck.policy.load import load_policies  # noqa: PLC0415 - jsonschema and CEL load here

    key_file = ctx.facts["public_key"].relative_to(ctx.root).as_posix()
    for name, builder in (("policy", demo_inputs.BUILDER_ID), ("policy-other-builder", demo_inputs.OTHER_BUILDER_ID)):
        path = ctx.root / f"{name}.yaml"
        path.write_text(demo_inputs.policy(name.replace("policy", "demo"), key_file, builder), encoding="utf-8")
        load_policies([path])  # the demo's policies load as a user's would
        ctx.facts[name] = path
    return [f"wrote {ctx.facts['policy'].name}: signed by {key_file}; provenance from {demo_inputs.BUILDER_ID}, "
            "source, commit, tasks, step images, age",
            f"and {ctx.facts['policy-other-builder'].name}: the same, but built by {demo_inputs.OTHER_BUILDER_ID}"]


def _judge(ctx: DemoContext, image: str, policy: Path, name: str) -> Verdict:
    from slsacheck.models.reference import ImageRef  # noqa: PLC0415
    from slsacheck.models.verdict_render import render_json  # noqa: PLC0415
    from slsacheck.policy.load import load_policies  # noqa: PLC0415
    from slsacheck.verify.gate import verify_image  # noqa: PLC0415

    verdict = verify_image(ImageRef.parse(image), load_policies([policy]))
    folder = ctx.root / "verdicts"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.json").write_text(render_json([verdict]), encoding="utf-8")
    ctx.facts.setdefault("verdicts", {})[name] = verdict
    return verdict


def _passed(ctx: DemoContext, image: str, name: str) -> list[str]:
    verdict = _judge(ctx, image, ctx.facts["policy"], name)
    if verdict.outcome != "pass" or verdict.digest != str(ctx.facts["digest"]):
        failed = "; ".join(f"{c.id}: {c.found}" for c in verdict.failed) or "; ".join(verdict.incomplete)
        raise DemoFailed(f"{image} should pass {ctx.facts['policy'].name}", expected="verdict pass",
                         found=f"verdict {verdict.outcome}: {failed}")
    return [f"verdict: PASS for {verdict.digest} (verdicts/{name}.json)",
            f"{len(verdict.checks)} checks passed: {', '.join(c.id for c in verdict.checks)}"]


def _verify(ctx: DemoContext) -> list[str]:
    return _passed(ctx, ctx.facts["source_ref"], "source")


def _promote(ctx: DemoContext) -> DestinationResult:
    from slsacheck.policy.load import load_policies  # noqa: PLC0415
    from slsacheck.promote import promote  # noqa: PLC0415

    ctx.facts["copy_ref"] = f"oci:{ctx.destination}:{TAG}"
    policy = ctx.facts["policy"]
    record = promote(ctx.facts["source_ref"], [ctx.facts["copy_ref"]], load_policies([policy]), policy_files=[policy])
    ctx.facts.setdefault("promotions", []).append(record)
    if record.outcome != "promoted" or record.source_digest != str(ctx.facts["digest"]):
        errors = "; ".join(d.error or d.outcome for d in record.destinations)
        raise DemoFailed("the promotion did not complete", expected="promoted", found=f"{record.outcome}: {errors}")
    return record.destinations[0]


def _promote_first(ctx: DemoContext) -> list[str]:
    dest = _promote(ctx)
    copied = dest.image_copy
    kinds = [item.kind for item in dest.evidence]
    image = f"{len(copied.manifests_copied)} manifests, {len(copied.blobs_copied)} blobs" if copied else "the image"
    return [f"verified the source, then copied {image} to {ctx.facts['copy_ref']}",
            f"with its evidence ({kinds.count('signatures')} .sig, {kinds.count('attestations')} .att, "
            f"{kinds.count('referrer')} referrers); verified there before the tag was set"]


def _promote_again(ctx: DemoContext) -> list[str]:
    dest = _promote(ctx)
    if not dest.sent_nothing:
        raise DemoFailed("the second promotion sent content again", expected="nothing sent",
                         found=json.dumps(dest.to_json()["copied"]))
    return [f"promoted again: {len(dest.evidence)} pieces of evidence and the image already there, nothing re-sent"]


def _verify_copy(ctx: DemoContext) -> list[str]:
    from slsacheck.attach import cosign_tags as ct  # noqa: PLC0415
    from slsacheck.oci.layout import LayoutStore  # noqa: PLC0415

    tags = set(LayoutStore(ctx.destination).tags())
    digest = ctx.facts["digest"]
    wanted = {ct.signature_tag(d) for d in ctx.facts["signed"]} | {ct.attestation_tag(digest)}
    if not wanted <= tags:
        raise DemoFailed("the copy lacks evidence tags", expected=", ".join(sorted(wanted)),
                         found=", ".join(sorted(tags)))
    return _passed(ctx, ctx.facts["copy_ref"], "copy")


def _fail_closed(ctx: DemoContext) -> list[str]:
    from slsacheck.cli import demo_inputs  # noqa: PLC0415
    from slsacheck.models.verdict_render import DETAILS, check_details  # noqa: PLC0415
    from slsacheck.policy.checkids import PROVENANCE_BUILDER  # noqa: PLC0415

    verdict = _judge(ctx, ctx.facts["source_ref"], ctx.facts["policy-other-builder"], "other-builder")
    failed = verdict.failed
    if verdict.outcome != "fail" or [c.id for c in failed] != [PROVENANCE_BUILDER]:
        raise DemoFailed(f"a policy requiring {demo_inputs.OTHER_BUILDER_ID} should fail on the builder alone",
                         expected=f"verdict fail: {PROVENANCE_BUILDER}",
                         found=f"verdict {verdict.outcome}: {', '.join(c.id for c in failed) or 'nothing failed'}")
    check = failed[0]
    return [f"verdict: FAIL, as it should (verdicts/other-builder.json); failed check: {check.id}",
            *(f"{label}: {value}" for label, value in check_details(check.to_json(), DETAILS[1:]))]


STEPS: list[Step] = [
    Step("build a two-platform image into an OCI layout", _build),
    Step("inspect it", _inspect),
    Step("generate a signing key pair", _keys),
    Step("sign the index and every platform manifest", _sign),
    Step("generate SLSA v1 provenance from the Tekton PipelineRun that built it", _provenance),
    Step("attest the provenance", _attest),
    Step("write the policies", _policies),
    Step("verify the image against the policy", _verify),
    Step("promote it with its evidence to a second layout", _promote_first),
    Step("promote it again (idempotent)", _promote_again),
    Step("verify the copy", _verify_copy),
    Step("verify against a policy that requires another builder (must fail)", _fail_closed),
]


def run(root: Path, out: Any = None) -> DemoContext:
    out = out or sys.stdout
    ctx = DemoContext(root)
    for number, step in enumerate(STEPS, 1):
        print(f"[{number}/{len(STEPS)}] {step.title}", file=out)
        for line in step.run(ctx):
            print(f"    {line}", file=out)
    return ctx


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole flow on OCI layout directories (no registry, no network)",
        description="Build a two-platform image into an OCI layout; generate a key pair; sign it; generate SLSA "
        "provenance from a Tekton PipelineRun and attest it; write a policy and verify against it; promote the "
        "image with its evidence to a second layout and verify it there; then show that a policy requiring "
        "another builder fails. Exit 0 when every step turned out as expected (that failure included).",
    )
    p.add_argument("--dir", help="an empty or new directory for the layouts, keys, run objects, policies and "
                   "verdicts (default: a new temporary directory, kept)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="slsacheck-demo-"))
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise InputError(f"--dir {root} is not an empty directory",
                         hint="the demo starts from nothing: name a new or empty directory, or leave --dir out")
    root.mkdir(parents=True, exist_ok=True)
    print(f"slsacheck demo in {root}")
    run(root)
    policy = root / "policy.yaml"
    command, note = _command()
    print(f"done: every step turned out as expected. Files are in {root}; try:")
    if note:
        print(f"  ({note})")
    print(f"  {command} inspect oci:{root / 'copy'}:{TAG}")
    print(f"  {command} verify --policy {policy} oci:{root / 'copy'}:{TAG}")
    for line in _own_image_steps(command):
        print(line)
    return 0


def _command() -> tuple[str, str | None]:
    """How the user can run slsacheck from their shell, and a note when it is not on PATH
    (the demo runs from a virtualenv that is usually not activated)."""
    here = Path(sys.executable).parent / "slsacheck"
    on_path = shutil.which("slsacheck")
    if on_path is not None and (not here.exists() or Path(on_path).resolve() == here.resolve()):
        return "slsacheck", None
    if here.exists():
        return str(here), (f"slsacheck is not on your PATH: run it as {here}, "
                           f"or `source {here.parent / 'activate'}` first and type slsacheck")
    return "slsacheck", None


def _own_image_steps(command: str) -> list[str]:
    """The same flow on the user's own image in their own registry: the way from the demo to real use."""
    image = "registry.example.com/team/app:1.0"
    return [
        "now with your own image (replace registry.example.com/team/app:1.0; registry credentials come from "
        "docker login / ~/.docker/config.json):",
        f"  {command} generate-key-pair --output-key-prefix release",
        f"  {command} sign --key release.key {image}",
        f"  {command} policy init --image 'registry.example.com/team/**' --key release.pub -o policy.yaml",
        f"  {command} policy lint policy.yaml",
        f"  {command} verify --policy policy.yaml {image}",
    ]
