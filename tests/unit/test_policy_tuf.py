"""A keyless authority's trust root source in a policy: a file, a TUF mirror, or the default.

Loading reads no network: a mirror is data until a verification needs its root.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from slsacheck.errors import PolicyError
from slsacheck.policy.authority import KeylessAuthority
from slsacheck.policy.explain import explain
from slsacheck.policy.load import load_policies
from slsacheck.signing.tuf_source import PUBLIC_GOOD_URL, Mirror

POLICY = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata: {{name: p}}
spec:
  images: {{include: ["registry.example.com/**"]}}
  authorities:
    - name: ci
      keyless:
{source}
        identities: [{{issuer: https://issuer.example, subject: https://ci.example/builder}}]
  signatures: {{authorities: [ci]}}
"""


def _load(tmp_path: Path, source: str) -> KeylessAuthority:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(source=source))
    [policy] = load_policies([str(path)]).policies
    authority = policy.authorities["ci"]
    assert isinstance(authority, KeylessAuthority)
    return authority


def test_a_tuf_mirror_with_its_initial_root_relative_to_the_policy(tmp_path: Path) -> None:
    (tmp_path / "root.json").write_text("{}")
    authority = _load(tmp_path, '        tuf: {mirror: "https://tuf.example.com/sigstore/", root: root.json}')
    assert authority.trusted_root == Mirror("https://tuf.example.com/sigstore", (tmp_path / "root.json").resolve())


def test_no_source_means_the_public_good_through_tuf(tmp_path: Path) -> None:
    authority = _load(tmp_path, "")
    assert authority.trusted_root == Mirror(PUBLIC_GOOD_URL)
    path = tmp_path / "policy.yaml"
    text = explain(load_policies([str(path)]))
    assert f"trusted root through TUF from {PUBLIC_GOOD_URL}" in text


def test_a_file_is_still_a_file(tmp_path: Path) -> None:
    (tmp_path / "trusted_root.json").write_text("{}")
    authority = _load(tmp_path, "        trustedRoot: trusted_root.json")
    assert authority.trusted_root == (tmp_path / "trusted_root.json").resolve()


@pytest.mark.parametrize(("source", "words"), [
    ('        trustedRoot: t.json\n        tuf: {mirror: "https://tuf.example.com"}', "at most one trust root source"),
    ('        tuf: {mirror: "ftp://tuf.example.com"}', "mirror"),
    ('        tuf: {root: root.json}', "mirror"),
    ('        tuf: {mirror: "https://tuf.example.com", root: absent.json}', "initial TUF root"),
])
def test_bad_sources_do_not_load(tmp_path: Path, source: str, words: str) -> None:
    with pytest.raises(PolicyError) as caught:
        _load(tmp_path, source)
    assert words in caught.value.diagnostics()
