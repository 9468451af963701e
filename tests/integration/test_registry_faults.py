"""What RegistryStore does when the registry or the network lies or fails: a real registry
behind `tests.support.proxy`, which changes bytes, cuts bodies, drops connections, answers
errors, or plays a registry with the referrers API."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from slsacheck.errors import DigestMismatch, RegistryError, TooLarge
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor
from slsacheck.models.digest import Digest
from slsacheck.oci import RegistryClient, RegistryOptions, RegistryStore
from tests.support.proxy import Proxy, run_proxy
from tests.support.registry import PushedImage, RunningRegistry, image_manifest

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy(registry_http: RunningRegistry) -> Iterator[Proxy]:
    with run_proxy(registry_http.host) as running:
        yield running


@pytest.fixture
def image(registry_http: RunningRegistry, repo_name: str, pushed_image: Callable[..., PushedImage]) -> PushedImage:
    return pushed_image(registry_http, repo_name, "v1", layer_size=4096)


def _store(proxy: Proxy, registry: RunningRegistry, image: PushedImage, **options: object) -> RegistryStore:
    opts = RegistryOptions(docker_config=registry.options.docker_config, timeout=5.0, **options)  # type: ignore[arg-type]
    return RegistryStore(RegistryClient(proxy.host, opts), image.ref.repository)


def _flipped(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


# -- wrong bytes --------------------------------------------------------------------------


def test_tampered_manifest_by_digest(proxy: Proxy, registry_http: RunningRegistry, image: PushedImage) -> None:
    proxy.tamper("/manifests/")
    with pytest.raises(DigestMismatch) as err:
        _store(proxy, registry_http, image).fetch_manifest(str(image.manifest.digest))
    assert err.value.expected == str(image.manifest.digest)
    assert err.value.found == str(Digest.of(_flipped(image.manifest_bytes)))


def test_tampered_manifest_by_tag_disagrees_with_the_registry_digest(
    proxy: Proxy, registry_http: RunningRegistry, image: PushedImage
) -> None:
    proxy.tamper("/manifests/v1")
    with pytest.raises(DigestMismatch) as err:
        _store(proxy, registry_http, image).fetch_manifest("v1")
    assert err.value.expected == str(image.manifest.digest)
    assert err.value.found == str(Digest.of(_flipped(image.manifest_bytes)))


def test_tampered_blob(proxy: Proxy, registry_http: RunningRegistry, image: PushedImage) -> None:
    proxy.tamper("/blobs/")
    store = _store(proxy, registry_http, image)
    wrong = str(Digest.of(_flipped(image.layer_bytes)))
    with pytest.raises(DigestMismatch) as err:
        store.fetch_blob(image.layer)
    assert str(image.layer.digest) in str(err.value.expected) and wrong in str(err.value.found)
    assert "digest mismatch" in err.value.message and err.value.hint
    with pytest.raises(DigestMismatch) as err, store.open_blob(image.layer) as fh:
        while fh.read(1000):
            pass
    assert str(image.layer.digest) in str(err.value.expected) and wrong in str(err.value.found)


def test_short_body_with_matching_length_is_a_mismatch(
    proxy: Proxy, registry_http: RunningRegistry, image: PushedImage
) -> None:
    proxy.respond("/blobs/", 200, image.layer_bytes[:100], headers={"Content-Type": "application/octet-stream"})
    with pytest.raises(DigestMismatch) as err:
        _store(proxy, registry_http, image).fetch_blob(image.layer)
    assert "(100 bytes)" in str(err.value.found) and f"({image.layer.size} bytes)" in str(err.value.expected)


def test_longer_stream_than_the_descriptor_is_refused(
    proxy: Proxy, registry_http: RunningRegistry, image: PushedImage
) -> None:
    proxy.respond("/blobs/", 200, image.layer_bytes + b"extra", chunked=True)
    store = _store(proxy, registry_http, image)
    with pytest.raises((TooLarge, DigestMismatch)):
        store.fetch_blob(image.layer)
    with pytest.raises(TooLarge), store.open_blob(image.layer) as fh:
        fh.read()


# -- cut and dropped connections, errors --------------------------------------------------------


def test_truncated_blob_is_retried_then_reported(proxy: Proxy, registry_http: RunningRegistry,
                                                 image: PushedImage) -> None:
    store = _store(proxy, registry_http, image, retries=2)
    proxy.truncate("/blobs/", keep=1000, times=1)
    assert store.fetch_blob(image.layer) == image.layer_bytes  # the second attempt is whole
    proxy.truncate("/blobs/", keep=1000)
    with pytest.raises(RegistryError, match="broke off") as err:
        store.fetch_blob(image.layer)
    assert not isinstance(err.value, DigestMismatch)
    assert proxy.count("GET", "/blobs/") == 2 + 3  # cut + whole, then 1 + 2 retries
    with pytest.raises(RegistryError, match="broke off"), store.open_blob(image.layer) as fh:
        fh.read()


def test_dropped_connection_and_503_are_retried(proxy: Proxy, registry_http: RunningRegistry,
                                                image: PushedImage) -> None:
    store = _store(proxy, registry_http, image, retries=3)
    proxy.drop("/manifests/v1", times=1)
    proxy.fail("/manifests/v1", 503, times=1, headers={"Retry-After": "0"})
    proxy.fail("/manifests/v1", 429, times=1)
    assert store.resolve("v1").digest == image.manifest.digest
    assert proxy.count("HEAD", "/manifests/v1") == 4


def test_drop_after_n_requests(proxy: Proxy, registry_http: RunningRegistry, image: PushedImage) -> None:
    store = _store(proxy, registry_http, image, retries=0)
    proxy.drop("/blobs/", after=2, times=None)
    assert store.fetch_blob(image.config) == image.config_bytes
    assert store.fetch_blob(image.layer) == image.layer_bytes
    with pytest.raises(RegistryError, match="cannot reach"):
        store.fetch_blob(image.config)


def test_tags_are_paged_by_link_header(proxy: Proxy, registry_http: RunningRegistry, image: PushedImage) -> None:
    """Distribution 2.8 ignores `n` on tag lists, so the proxy plays a registry that pages."""
    repo = image.ref.repository
    names = [f"t{i:02d}" for i in range(7)]
    headers = {"Content-Type": "application/json"}
    for page, start in enumerate(range(0, 7, 3)):
        chunk = names[start : start + 3]
        page_headers = dict(headers)
        if start + 3 < 7:
            page_headers["Link"] = f'</v2/{repo}/tags/list?last={chunk[-1]}&n=3>; rel="next"'
        body = json.dumps({"name": repo, "tags": chunk}).encode()
        proxy.respond("/tags/list?n=3" if page == 0 else f"last={names[start - 1]}&", 200, body, headers=page_headers)
    store = _store(proxy, registry_http, image, tags_page_size=3)
    assert list(store.tags()) == names
    assert proxy.count("GET", "/tags/list") == 3


def test_persistent_5xx_is_reported_with_status(proxy: Proxy, registry_http: RunningRegistry,
                                                image: PushedImage) -> None:
    store = _store(proxy, registry_http, image, retries=2)
    body = json.dumps({"errors": [{"code": "UNAVAILABLE", "message": "down for maintenance"}]}).encode()
    proxy.fail("/manifests/", 503, method="GET", times=None, headers={"Retry-After": "0"})
    proxy.respond("/manifests/", 503, body, method="GET", headers={"Content-Type": "application/json"})
    with pytest.raises(RegistryError) as err:
        store.fetch_manifest("v1")
    assert err.value.status == 503 and err.value.registry == proxy.host
    assert err.value.repository == image.ref.repository
    assert proxy.count("GET", "/manifests/v1") == 3


def test_registry_error_codes_are_carried(proxy: Proxy, registry_http: RunningRegistry, image: PushedImage) -> None:
    body = json.dumps({"errors": [{"code": "DENIED", "message": "quota exceeded"}]}).encode()
    proxy.respond("/manifests/", 400, body, method="PUT", headers={"Content-Type": "application/json"})
    with pytest.raises(RegistryError) as err:
        _store(proxy, registry_http, image).push_manifest(image.manifest_bytes, mt.OCI_MANIFEST, tag="x")
    assert err.value.codes == ("DENIED",) and "quota exceeded" in err.value.message and err.value.status == 400


def test_retry_after_beyond_the_limit_fails_at_once(proxy: Proxy, registry_http: RunningRegistry,
                                                    image: PushedImage) -> None:
    store = _store(proxy, registry_http, image, max_retry_after=5.0)
    proxy.fail("/manifests/v1", 429, times=None, headers={"Retry-After": "3600"})
    with pytest.raises(RegistryError, match="HTTP 429") as err:
        store.resolve("v1")
    assert "rate" in str(err.value.hint)
    assert proxy.count("HEAD", "/manifests/v1") == 1


# -- size caps ------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True])
def test_oversize_manifest(proxy: Proxy, registry_http: RunningRegistry, image: PushedImage, chunked: bool) -> None:
    big = b'{"schemaVersion":2,"x":"' + b"a" * (mt.MAX_MANIFEST_SIZE + 10) + b'"}'
    proxy.respond("/manifests/big", 200, big, headers={"Content-Type": mt.OCI_MANIFEST}, chunked=chunked)
    with pytest.raises(TooLarge) as err:
        _store(proxy, registry_http, image).fetch_manifest("big")
    assert str(mt.MAX_MANIFEST_SIZE) in str(err.value.expected)


def test_blob_over_the_cap_is_refused_before_reading(registry_http: RunningRegistry, image: PushedImage) -> None:
    store = registry_http.store(image.ref.repository, RegistryOptions(max_blob_size=100))
    with pytest.raises(TooLarge):
        store.fetch_blob(image.layer)
    assert store.fetch_blob(image.layer, max_size=image.layer.size) == image.layer_bytes


# -- HEAD without a digest; the referrers API -----------------------------------------------------


def test_resolve_falls_back_to_get_without_digest_header(proxy: Proxy, registry_http: RunningRegistry,
                                                         image: PushedImage) -> None:
    proxy.respond("/manifests/v1", 200, b"", method="HEAD", headers={"Content-Type": mt.OCI_MANIFEST})
    desc = _store(proxy, registry_http, image).resolve("v1")
    assert desc.digest == image.manifest.digest and desc.size == len(image.manifest_bytes)
    assert proxy.count("GET", "/manifests/v1") == 1


@pytest.mark.parametrize("length", ["\u00b2", "1_0", "+12", "-1", "9" * 30])
def test_a_head_length_that_is_not_ascii_digits_is_not_believed(proxy: Proxy, registry_http: RunningRegistry,
                                                                 image: PushedImage, length: str) -> None:
    # str.isdigit() takes the superscript two, which int() refuses; int() takes "1_0" and "+12".
    proxy.add_headers("/manifests/v1", {"Content-Length": length}, method="HEAD")
    desc = _store(proxy, registry_http, image).resolve("v1")
    assert desc.digest == image.manifest.digest and desc.size == len(image.manifest_bytes)
    assert proxy.count("GET", "/manifests/v1") == 1  # the size came from the body


def _entry(digest_seed: str, artifact_type: str) -> dict[str, object]:
    return Descriptor(mt.OCI_MANIFEST, Digest.of(digest_seed.encode()), 100, artifact_type=artifact_type).to_json()


def test_referrers_api_pages_and_client_side_filter(proxy: Proxy, registry_http: RunningRegistry,
                                                    image: PushedImage) -> None:
    subject = image.manifest.digest
    page2 = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [_entry("c", "application/vnd.a")]}
    page1 = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
             "manifests": [_entry("a", "application/vnd.a"), _entry("b", "application/vnd.b")]}
    headers = {"Content-Type": mt.OCI_INDEX}
    proxy.respond("last=p1", 200, json.dumps(page2).encode(), headers=headers)
    link = f'</v2/{image.ref.repository}/referrers/{subject}?last=p1>; rel="next"'
    proxy.respond(f"/referrers/{subject}", 200, json.dumps(page1).encode(), headers=dict(headers, Link=link))
    store = _store(proxy, registry_http, image)
    everything = store.referrers(subject)
    assert [d.digest for d in everything] == [Digest.of(b"a"), Digest.of(b"b"), Digest.of(b"c")]
    # The made-up registry ignores artifactType: the filter is applied here too.
    only_a = store.referrers(subject, artifact_type="application/vnd.a")
    assert [d.digest for d in only_a] == [Digest.of(b"a"), Digest.of(b"c")]
    assert proxy.count("GET", "artifactType=application%2Fvnd.a") == 1
    assert proxy.count("GET", f"/manifests/{subject.tag_form}") == 0  # no fallback when the API answers


def test_push_referrer_skips_fallback_when_registry_indexes_subjects(
    proxy: Proxy, registry_http: RunningRegistry, image: PushedImage
) -> None:
    store = _store(proxy, registry_http, image)
    empty = Descriptor.of(mt.EMPTY_JSON, mt.OCI_EMPTY)
    store.push_blob(empty, mt.EMPTY_JSON)
    raw = image_manifest(empty, [empty], artifactType="application/vnd.x", subject=image.manifest.to_json())
    proxy.add_headers("/manifests/", {"OCI-Subject": str(image.manifest.digest)}, method="PUT")
    store.push_referrer(raw, mt.OCI_MANIFEST)
    assert proxy.count("PUT", f"/manifests/{image.manifest.digest.tag_form}") == 0
    proxy.clear()
    store.push_referrer(raw, mt.OCI_MANIFEST)  # now the "registry" does not say OCI-Subject
    assert proxy.count("PUT", f"/manifests/{image.manifest.digest.tag_form}") == 1


def test_proxy_from_environment(proxy: Proxy, registry_http: RunningRegistry, image: PushedImage,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://{proxy.host}")
    monkeypatch.setenv("http_proxy", f"http://{proxy.host}")
    store = RegistryStore(RegistryClient(registry_http.host, registry_http.options), image.ref.repository)
    assert store.resolve("v1").digest == image.manifest.digest
    assert proxy.count("HEAD", "/manifests/v1") == 1  # went through the proxy
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    direct = RegistryStore(RegistryClient(registry_http.host, registry_http.options), image.ref.repository)
    assert direct.resolve("v1").digest == image.manifest.digest
    assert proxy.count("HEAD", "/manifests/v1") == 1
