"""The sigstore-python internals `signing/_sigstore_adapter.py` relies on are where it
expects them, in the installed version, which is one pyproject.toml allows.

Each private name the adapter touches is exercised here on real objects (a signing context
built from a trust config, a DSSE envelope signed by sigstore-python, its exception
classes), offline: when a sigstore release moves one, this file fails and names it.
"""

from __future__ import annotations

import base64
import inspect
import json
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from packaging.requirements import Requirement
from packaging.version import Version
from sigstore import dsse
from sigstore._internal.fulcio.client import ExpiredCertificate, FulcioClientError
from sigstore._internal.rekor import RekorClientError
from sigstore.models import ClientTrustConfig
from sigstore.oidc import ExpiredIdentity
from sigstore.sign import Signer

from slsacheck.signing import _sigstore_adapter as adapter
from tests.support.env import ROOT
from tests.support.private_sigstore import make_ca

PUBLIC_GOOD_ROOT = (
    Path(dsse.__file__).parent.parent / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev" / "trusted_root.json"
)
START = "2020-01-01T00:00:00Z"


def _constraint() -> Requirement:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = [Requirement(d) for d in project["dependencies"] if Requirement(d).name == "sigstore"]
    assert len(found) == 1, "pyproject.toml must declare sigstore once"
    return found[0]


def test_installed_sigstore_is_in_the_range_the_adapter_was_written_for() -> None:
    wanted = _constraint()
    installed = Version(metadata.version("sigstore"))
    assert wanted.specifier.contains(installed), f"sigstore {installed} is outside {wanted.specifier}"
    # The adapter states the same range; widening pyproject.toml means rereading the adapter.
    assert {str(s) for s in wanted.specifier} == set(adapter.SUPPORTED)


def _trust_config(rekor_version: int, *, tsa: bool = True) -> ClientTrustConfig:
    def service(url: str, version: int = 1) -> dict[str, Any]:
        return {"url": url, "majorApiVersion": version, "operator": "tests", "validFor": {"start": START}}

    signing = {
        "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
        "caUrls": [service("http://127.0.0.1:9/fulcio")],
        "oidcUrls": [],
        "rekorTlogUrls": [service("http://127.0.0.1:9/rekor", rekor_version)],
        "tsaUrls": [service("http://127.0.0.1:9/tsa")] if tsa else [],
        "rekorTlogConfig": {"selector": "ANY"},
        "tsaConfig": {"selector": "ANY"},
    }
    doc = {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": json.loads(PUBLIC_GOOD_ROOT.read_text()),
        "signingConfig": signing,
    }
    return ClientTrustConfig.from_json(json.dumps(doc))


def test_signing_context_exposes_the_services_the_adapter_reads() -> None:
    v2 = adapter.signing_context(_trust_config(2))
    assert adapter.rekor_major_version(v2) == 2
    assert adapter.timestamp_authorities(v2) == ["http://127.0.0.1:9/tsa"]
    assert adapter.service_urls(v2) == {
        "Fulcio": "http://127.0.0.1:9/fulcio",
        "Rekor": "http://127.0.0.1:9/rekor/api/v2",
        "TSA": "http://127.0.0.1:9/tsa",
    }
    # The DSSE override keeps the client's endpoint.
    assert isinstance(v2._rekor, adapter._DsseAsDsseV2)
    assert v2._rekor.url == "http://127.0.0.1:9/rekor/api/v2"

    v1 = adapter.signing_context(_trust_config(1, tsa=False))
    assert adapter.rekor_major_version(v1) == 1
    assert adapter.timestamp_authorities(v1) == []
    assert not isinstance(v1._rekor, adapter._DsseAsDsseV2)
    assert set(adapter.service_urls(v1)) == {"Fulcio", "Rekor"}


def test_sigstore_still_builds_its_dsse_log_request_where_the_adapter_overrides_it() -> None:
    # The override only works while Signer asks the context's Rekor client for the request
    # and submits it through that client; if sigstore moves either, DSSE would be logged
    # sigstore-python's way again without a word.
    sign_dsse = inspect.getsource(Signer.sign_dsse)
    finalize = inspect.getsource(Signer._finalize_sign)
    assert "_signing_ctx._rekor._build_dsse_request(" in sign_dsse
    assert "_signing_ctx._rekor.create_entry(" in finalize
    assert "_signing_ctx._tsa_clients" in finalize


def test_dsse_request_is_rekor_v2_dsse_with_the_envelope_and_its_signer() -> None:
    key, ca = make_ca("adapter test signer")
    raw = json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "a", "digest": {"sha256": "ab" * 32}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {},
        }
    ).encode()
    statement = dsse.Statement(raw)
    # sigstore's own DSSE signing, so the envelope type is the one Signer hands the client.
    envelope = dsse._sign(key, statement)
    body = adapter._DsseAsDsseV2._build_dsse_request(envelope, ca)
    request = body["dsseRequestV002"]
    sent = request["envelope"]
    assert base64.b64decode(sent["payload"]) == raw
    assert sent["payloadType"] == "application/vnd.in-toto+json"
    assert [base64.b64decode(s["sig"]) for s in sent["signatures"]] == [envelope.signature]
    [verifier] = request["verifiers"]
    der = base64.b64decode(verifier["x509Certificate"]["rawBytes"])
    assert x509.load_der_x509_certificate(der) == ca
    assert verifier["keyDetails"] == "PKIX_ECDSA_P256_SHA_256"


def test_exception_classes_are_recognised() -> None:
    assert adapter.is_expired_certificate(ExpiredCertificate())
    assert not adapter.is_expired_certificate(ExpiredIdentity())
    assert adapter.refuses_identity(ExpiredIdentity()) and adapter.refuses_identity(ExpiredCertificate())
    assert adapter.failed_service(FulcioClientError("refused")) == "Fulcio"
    assert adapter.failed_service(RekorClientError(requests.HTTPError("refused"))) == "Rekor"
    assert adapter.failed_service(ConnectionError("refused")) is None
    assert not adapter.refuses_identity(ValueError("other"))


@pytest.mark.parametrize("name", ["_fulcio", "_rekor", "_tsa_clients"])
def test_signing_context_keeps_its_private_attributes(name: str) -> None:
    context = adapter.signing_context(_trust_config(2))
    assert hasattr(context, name), f"sigstore's SigningContext no longer has {name}"
