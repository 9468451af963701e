"""`slsacheck trusted-root update | show` against a TUF repository the test builds with
python-tuf and serves on loopback: a trust root comes only out of a complete TUF update.

The repository's `trusted_root.json` is the private Sigstore's (tests/support). Each
refusal is built as an attacker (or a broken mirror) would build it, and after each one the
previously cached root must still be there, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner

from slsacheck.signing import tuf
from tests.support.cli import Cli, cli
from tests.support.private_sigstore import make_private_sigstore
from tests.support.servers import black_hole
from tests.support.tuf_repo import TufRepo

__all__ = ["cli"]

pytestmark = pytest.mark.integration


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("SLSACHECK_CACHE", str(path))
    return path


@pytest.fixture
def repo() -> TufRepo:
    root = json.dumps(make_private_sigstore().doc).encode()
    return TufRepo({"trusted_root.json": root, "signing_config.v0.2.json": b'{"mediaType": "x"}'})


def _update(cli: Cli, url: str, root: Path, *extra: str) -> tuple[int, str, str]:
    run = cli("trusted-root", "update", "--mirror", url, "--root", str(root), "--timeout", "3", *extra)
    return run.code, run.out, run.err


def _root_file(repo: TufRepo, tmp_path: Path) -> Path:
    path = tmp_path / "root.json"
    path.write_bytes(repo.initial_root)
    return path


def _cached_bytes(url: str, cache: Path) -> bytes:
    found = tuf.cached(tuf.Mirror(url), cache)
    assert found is not None
    return found.trusted_root_path.read_bytes()


def test_update_then_show(cli: Cli, cache: Path, repo: TufRepo, tmp_path: Path) -> None:
    with repo.served() as url:
        code, out, err = _update(cli, url, _root_file(repo, tmp_path))
        assert code == 0, err
        assert f"fetching the Sigstore trust root from {url} through TUF" in err
        assert "1 certificate authorities, 1 transparency logs" in out
        assert _cached_bytes(url, cache) == repo.content["trusted_root.json"]
        shown = cli("trusted-root", "show", "--output", "json")
        assert shown.code == 0
        [entry] = shown.json()
        assert entry["mirror"] == url and entry["expired"] is False
        assert entry["signingConfig"] and entry["versions"]["timestamp"] == repo.timestamp.signed.version
        # the expiry shown is the earliest of the metadata (the timestamp's, one day)
        assert datetime.fromisoformat(entry["expires"]) == repo.timestamp.signed.expires
        text = cli("trusted-root", "show")
        assert text.code == 0 and url in text.out and "valid until" in text.out


def test_show_with_nothing_cached_says_what_to_do(cli: Cli, cache: Path) -> None:
    run = cli("trusted-root", "show")
    assert run.code == 3 and "trusted-root update" in run.err


def test_a_private_mirror_needs_its_initial_root(cli: Cli, cache: Path, repo: TufRepo) -> None:
    with repo.served() as url:
        run = cli("trusted-root", "update", "--mirror", url)
    assert run.code == 2 and "--root FILE" in run.err and "Traceback" not in run.err


def test_a_new_trusted_root_is_followed(cli: Cli, cache: Path, repo: TufRepo, tmp_path: Path) -> None:
    root = _root_file(repo, tmp_path)
    with repo.served() as url:
        assert _update(cli, url, root)[0] == 0
        repo.content["trusted_root.json"] = json.dumps(make_private_sigstore().doc).encode()
        repo.publish()
        assert _update(cli, url, root)[0] == 0
        assert _cached_bytes(url, cache) == repo.content["trusted_root.json"]


def test_a_root_rotation_signed_by_old_and_new_root_keys_is_followed(
    cli: Cli, cache: Path, repo: TufRepo, tmp_path: Path
) -> None:
    root = _root_file(repo, tmp_path)
    with repo.served() as url:
        assert _update(cli, url, root)[0] == 0
        repo.rotate_root("root")
        repo.rotate_root("timestamp")  # signed by the (new) root key alone: it is the root now
        repo.publish()
        code, _, err = _update(cli, url, root)
        assert code == 0, err
        found = tuf.cached(tuf.Mirror(url), cache)
        assert found is not None and found.versions["root"] == 3


# -- refused: the cached root stays, exit 1 (metadata that does not verify) ----------------------


def _refused(cli: Cli, url: str, root: Path, cache: Path, before: bytes, *words: str) -> None:
    code, _, err = _update(cli, url, root)
    assert code == 1, err
    assert url in err and "does not verify" in err and "Traceback" not in err
    for word in words:
        assert word in err
    assert _cached_bytes(url, cache) == before


def _good_then_attack(cli: Cli, repo: TufRepo, url: str, tmp_path: Path, cache: Path) -> tuple[Path, bytes]:
    root = _root_file(repo, tmp_path)
    code, _, err = _update(cli, url, root)
    assert code == 0, err
    before = _cached_bytes(url, cache)
    # the attacker's trusted root: their own Fulcio CA and Rekor key
    repo.content["trusted_root.json"] = json.dumps(make_private_sigstore().doc).encode()
    return root, before


@pytest.fixture
def url(repo: TufRepo) -> Iterator[str]:
    with repo.served() as base:
        yield base


@pytest.mark.parametrize("role", ["timestamp", "snapshot", "targets", "root"])
def test_expired_metadata_is_refused(
    cli: Cli, cache: Path, repo: TufRepo, url: str, *, tmp_path: Path, role: str
) -> None:
    """A freeze attack: validly signed metadata whose time is up, for each role."""
    root, before = _good_then_attack(cli, repo, url, tmp_path, cache)
    past = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    if role == "root":
        repo.root.signed.expires = past
        repo.root.signed.version += 1
        repo.publish_root(signers=[repo.signers["root"]])
    else:
        {"timestamp": repo.timestamp, "snapshot": repo.snapshot, "targets": repo.targets}[role].signed.expires = past
    repo.publish()
    _refused(cli, url, root, cache, before, "Expired")


def test_rollback_to_an_older_version_is_refused(
    cli: Cli, cache: Path, repo: TufRepo, url: str, tmp_path: Path
) -> None:
    root = _root_file(repo, tmp_path)
    old_timestamp = repo.files["timestamp.json"]
    repo.publish()  # version 2 of everything, fetched once
    assert _update(cli, url, root)[0] == 0
    before = _cached_bytes(url, cache)
    repo.files["timestamp.json"] = old_timestamp  # a mirror replaying yesterday's (validly signed) state
    _refused(cli, url, root, cache, before, "BadVersionNumber")


def test_a_target_whose_hash_does_not_match_is_refused(
    cli: Cli, cache: Path, repo: TufRepo, url: str, tmp_path: Path
) -> None:
    root, before = _good_then_attack(cli, repo, url, tmp_path, cache)
    repo.publish()
    # the mirror swaps the bytes behind the name the targets metadata hashed
    [name] = [n for n in repo.files if n.startswith("targets/") and n.endswith("trusted_root.json")
              and repo.files[n] == repo.content["trusted_root.json"]]
    repo.files[name] = json.dumps(make_private_sigstore().doc).encode()
    _refused(cli, url, root, cache, before, "LengthOrHashMismatch")


@pytest.mark.parametrize("role", ["timestamp", "snapshot", "targets"])
def test_metadata_signed_by_the_wrong_key_is_refused(
    cli: Cli, cache: Path, repo: TufRepo, url: str, *, tmp_path: Path, role: str
) -> None:
    root, before = _good_then_attack(cli, repo, url, tmp_path, cache)
    repo.publish(sign_with={role: CryptoSigner.generate_ed25519()})
    _refused(cli, url, root, cache, before, "UnsignedMetadata")


@pytest.mark.parametrize("signed_by", ["new key only", "old key only"])
def test_a_root_rotation_without_both_roots_signatures_is_refused(
    cli: Cli, cache: Path, repo: TufRepo, url: str, *, tmp_path: Path, signed_by: str
) -> None:
    root, before = _good_then_attack(cli, repo, url, tmp_path, cache)
    # new key only: version 2 signed by a key the attacker holds; old key only: a root the new
    # keys never approved (a stolen old key rotating trust to keys nobody can use)
    repo.rotate_root("root", old_signs=signed_by == "old key only", new_signs=signed_by == "new key only")
    repo.publish()
    _refused(cli, url, root, cache, before, "UnsignedMetadata")


def test_the_embedded_public_good_roots_are_tuf_root_metadata() -> None:
    from tuf.api.metadata import Metadata, Root

    from slsacheck.signing.tuf_source import PUBLIC_GOOD_URL, STAGING_URL

    for url in (PUBLIC_GOOD_URL, STAGING_URL):
        md = Metadata[Root].from_bytes(tuf.initial_root(tuf.Mirror(url)))
        assert isinstance(md.signed, Root) and md.signed.version >= 1
        md.signed.verify_delegate("root", md.signed_bytes, md.signatures)  # self-signed by a threshold


def test_a_cached_root_changed_on_disk_is_not_used(cli: Cli, cache: Path, repo: TufRepo, url: str,
                                                   tmp_path: Path) -> None:
    """Someone swaps the cached trusted_root.json for their own: verification refuses it."""
    assert _update(cli, url, _root_file(repo, tmp_path))[0] == 0
    found = tuf.cached(tuf.Mirror(url), cache)
    assert found is not None
    found.trusted_root_path.write_bytes(json.dumps(make_private_sigstore().doc).encode())
    with pytest.raises(tuf.TufError, match="changed on disk"):
        tuf.trusted_root(tuf.Mirror(url), tuf.TufUse(offline=True))


def test_a_damaged_cache_state_is_exit_3_with_a_hint(cli: Cli, cache: Path, repo: TufRepo, url: str,
                                                     tmp_path: Path) -> None:
    assert _update(cli, url, _root_file(repo, tmp_path))[0] == 0
    state = tuf.mirror_dir(tuf.Mirror(url), cache) / tuf.STATE_FILE
    state.write_text('{"mirror": 1}')
    run = cli("trusted-root", "show")
    assert run.code == 3 and "damaged" in run.err and "trusted-root update" in run.err
    assert _update(cli, url, _root_file(repo, tmp_path))[0] == 0  # an update repairs it
    assert cli("trusted-root", "show").code == 0


def test_a_first_update_that_is_refused_caches_nothing(cli: Cli, cache: Path, repo: TufRepo, tmp_path: Path) -> None:
    root = _root_file(repo, tmp_path)
    repo.publish(sign_with={"targets": CryptoSigner.generate_ed25519()})
    with repo.served() as url:
        code, _, err = _update(cli, url, root)
    assert code == 1 and "does not verify" in err
    assert tuf.cached(tuf.Mirror(url), cache) is None
    assert cli("trusted-root", "show").code == 3


# -- the mirror cannot be read: exit 3, the mirror named, nothing partial ------------------------


@pytest.mark.parametrize("fault", ["down", "slow", "garbage", "garbage-target", "404"])
def test_a_mirror_that_cannot_be_read_is_exit_3(
    cli: Cli, cache: Path, repo: TufRepo, tmp_path: Path, fault: str
) -> None:
    root = _root_file(repo, tmp_path)
    with repo.served() as url:
        assert _update(cli, url, root)[0] == 0
        before = _cached_bytes(url, cache)
        repo.content["trusted_root.json"] = b"{}"
        repo.publish()
        if fault == "garbage":
            repo.files["timestamp.json"] = b"<html>gateway error</html>"
        elif fault == "garbage-target":
            repo.content["trusted_root.json"] = b"\x00\x01 not json"
            repo.publish()
        elif fault == "404":
            del repo.files["timestamp.json"]
        if fault in ("down", "slow"):
            context = black_hole() if fault == "slow" else _closed_port()
            with context as hole:
                target = f"http://{hole.host}"
                code, _, err = _update(cli, target, root)
                assert code == 3, err
                assert target in err and "Traceback" not in err
                assert _cached_bytes(url, cache) == before
            return
        code, _, err = _update(cli, url, root)
    assert code == (1 if fault == "garbage-target" else 3), err
    assert url in err and "Traceback" not in err
    assert _cached_bytes(url, cache) == before


class _Closed:
    def __init__(self) -> None:
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{s.getsockname()[1]}"
        s.close()

    def __enter__(self) -> _Closed:
        return self

    def __exit__(self, *args: object) -> None:
        pass


def _closed_port() -> _Closed:
    return _Closed()
