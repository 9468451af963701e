"""What the webhook's logs say about the objects it judged and its policy reloads: a
Deployment applied without `request.name` is named by its object, and a refused reload
that later loads again says it recovered."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from slsacheck.admission.reload import PolicyHolder
from slsacheck.admission.review import parse_review
from slsacheck.signing.keys import generate_key_pair
from tests.admission.support import pod_review

POLICY = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata: {name: team}
spec:
  images: {include: ["registry.example.com/**"]}
  authorities:
    - name: release-key
      key: {file: release.pub}
  signatures: {authorities: [release-key], threshold: 1}
"""


def _review(metadata: dict[str, Any], *, request_name: str | None) -> bytes:
    doc = pod_review(["registry.example.com/team/app:1"])
    request = doc["request"]
    request["kind"] = {"group": "apps", "version": "v1", "kind": "Deployment"}
    request["object"] = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
                         "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}}
    if request_name is None:
        del request["name"]
    else:
        request["name"] = request_name
    return json.dumps(doc).encode()


def test_a_deployment_without_request_name_is_named_by_its_object() -> None:
    assert parse_review(_review({"name": "web", "namespace": "team"}, request_name=None)).name == "web"
    assert parse_review(_review({"name": "web"}, request_name="")).name == "web"
    assert parse_review(_review({"name": "web"}, request_name="api")).name == "api"  # the API server's word wins
    assert parse_review(_review({"generateName": "web-"}, request_name=None)).name == "web-*"
    assert parse_review(_review({}, request_name=None)).name == ""


def _bump(path: Path, text: str) -> None:
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_a_refused_reload_that_loads_again_logs_its_recovery(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "release.pub").write_bytes(generate_key_pair(b"")[1])
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    holder = PolicyHolder([path])
    first = holder.current.digest
    with caplog.at_level(logging.INFO, logger="slsacheck.admission"):
        _bump(path, POLICY.replace("threshold: 1", "threshold: 0"))
        assert holder.check() is False and holder.last_error is not None
        _bump(path, POLICY)  # the operator reverts the broken change
        assert holder.check() is False and holder.last_error is None
    messages = [r.getMessage() for r in caplog.records]
    assert any("REFUSED" in m for m in messages)
    recovered = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(recovered) == 1
    fields = recovered[0].slsacheck_fields  # type: ignore[attr-defined]
    assert fields["digest"] == first and fields["changed"] is False
    with caplog.at_level(logging.INFO, logger="slsacheck.admission"):
        _bump(path, POLICY + "\n")  # an ordinary reload afterwards is not a recovery
        holder.check()
    assert len([r for r in caplog.records if "recovered" in r.getMessage()]) == 1
