"""`slsacheck policy convert`: a policy-controller ClusterImagePolicy or Kyverno verifyImages
rules become ImagePolicy documents that lint and judge the same images, and whatever could
not carry over is listed, never dropped silently."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from slsacheck.errors import EXIT_OK, EXIT_POLICY, EXIT_USAGE
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from tests.support.cli import Cli, cli

__all__ = ["cli"]


def _indent(pem: str, spaces: int) -> str:
    return textwrap.indent(pem, " " * spaces)


@pytest.fixture
def keys(tmp_path: Path, cli: Cli) -> Path:
    for name in ("release", "attacker"):
        assert cli("generate-key-pair", "--output-key-prefix", str(tmp_path / name)).code == 0
    return tmp_path


def _cip(pub: str) -> str:
    return f"""\
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: release-signed
spec:
  images:
    - glob: "oci:**"
  authorities:
    - name: release
      key:
        data: |
{_indent(pub, 10)}
      attestations:
        - name: must-have-provenance
          predicateType: slsaprovenance1
          policy:
            type: cue
            data: |
              predicateType: "https://slsa.dev/provenance/v1"
    - name: from-vault
      key:
        secretRef: {{name: release-key}}
    - keyless:
        url: https://fulcio.example.com
        identities:
          - issuer: https://token.actions.githubusercontent.com
            subjectRegExp: "^https://github.com/acme/.*$"
      ctlog: {{url: https://rekor.example.com}}
"""


def test_a_cluster_image_policy_converts_lints_and_judges(tmp_path: Path, cli: Cli, keys: Path) -> None:
    source = tmp_path / "cip.yaml"
    source.write_text(_cip((keys / "release.pub").read_text()))
    out = tmp_path / "converted" / "policy.yaml"
    run = cli("policy", "convert", str(source), "-o", str(out))
    assert run.code == EXIT_OK, run.err
    for field in ("authorities[0].attestations[0].policy (cue)", "authorities[1].key.secretRef",
                  "authorities[2].keyless.url", "authorities[2].ctlog", "semantics:"):
        assert field in run.err, (field, run.err)
    text = out.read_text()
    assert text.startswith("# Converted by `slsacheck policy convert`") and "#   - spec.authorities[1]" in text
    (doc,) = [d for d in yaml.safe_load_all(text) if d]
    spec = doc["spec"]
    assert [a["name"] for a in spec["authorities"]] == ["release", "authority-2"]
    assert spec["authorities"][1]["keyless"]["identities"] == [
        {"issuer": "https://token.actions.githubusercontent.com", "subjectRegExp": "^https://github.com/acme/.*$"}]
    assert spec["attestations"] == [{"name": "must-have-provenance", "predicateType": "slsaprovenance1",
                                     "authorities": ["release"]}]

    # Judge real images with the key-only part (a keyless root is the user's to supply).
    spec["authorities"] = spec["authorities"][:1]
    spec["signatures"]["authorities"] = ["release"]
    del spec["attestations"]
    out.write_text(yaml.safe_dump(doc))
    assert cli("policy", "lint", str(out)).code == EXIT_OK
    scratch.push(LayoutStore(tmp_path / "img", create=True), scratch.image({"f": b"a"}), tag="v1")
    image = f"oci:{tmp_path / 'img'}:v1"
    assert cli("sign", "--key", str(keys / "attacker.key"), image).code == 0
    assert cli("verify", "--policy", str(out), image).code == EXIT_POLICY
    assert cli("sign", "--key", str(keys / "release.key"), image).code == 0
    assert cli("verify", "--policy", str(out), image).code == EXIT_OK


def test_kyverno_verify_images_rules_convert_with_their_gaps_listed(tmp_path: Path, cli: Cli, keys: Path) -> None:
    pub = (keys / "release.pub").read_text()
    source = tmp_path / "kyverno.yaml"
    source.write_text(f"""\
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {{name: check-images}}
spec:
  validationFailureAction: Audit
  rules:
    - name: verify
      match: {{any: [{{resources: {{kinds: [Pod]}}}}]}}
      verifyImages:
        - imageReferences: ["ghcr.io/acme/*"]
          attestors:
            - count: 1
              entries:
                - keys:
                    publicKeys: |-
{_indent(pub.strip(), 22)}
                - certificates: {{cert: "..."}}
          attestations:
            - type: https://slsa.dev/provenance/v0.2
              attestors:
                - entries:
                    - keyless:
                        subject: "https://github.com/acme/app/.github/workflows/build.yml@refs/heads/main"
                        issuer: https://token.actions.githubusercontent.com
              conditions:
                - all: [{{key: "{{{{ builder.id }}}}", operator: Equals, value: "x"}}]
    - name: labels
      validate: {{message: "x"}}
""")
    run = cli("policy", "convert", str(source))
    assert run.code == EXIT_OK, run.err
    docs = [d for d in yaml.safe_load_all(run.out) if d]
    assert len(docs) == 1
    spec = docs[0]["spec"]
    assert spec["mode"] == "warn" and spec["images"]["include"] == ["ghcr.io/acme/**"]
    assert spec["signatures"] == {"authorities": ["signer-0-0"], "threshold": 1}
    assert spec["attestations"] == [{"name": "attestation-0", "predicateType": "https://slsa.dev/provenance/v0.2",
                                     "authorities": ["attestor0-0-0"]}]
    for gap in ("* became **", "entries[1]: only keys.publicKeys", "conditions: not carried over",
                "rules[1] (labels): not a verifyImages rule"):
        assert gap in run.err, (gap, run.err)


@pytest.mark.parametrize(("content", "says"), [
    ("apiVersion: v1\nkind: ConfigMap\n", "cannot convert ConfigMap"),
    ("apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nspec: {images: [{glob: 'x/**'}]}\n",
     "no authority could be carried over"),
    ("a: [1\n", "not YAML"),
])
def test_what_cannot_be_converted_says_why(tmp_path: Path, cli: Cli, content: str, says: str) -> None:
    (tmp_path / "p.yaml").write_text(content)
    run = cli("policy", "convert", str(tmp_path / "p.yaml"))
    assert run.code == EXIT_USAGE and says in run.err and "Traceback" not in run.err
