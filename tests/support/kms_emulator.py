"""An AWS KMS emulator on loopback: moto's server mode, run as its own process, over TLS.

It is an emulator, not AWS: it speaks the KMS JSON protocol well enough for keys to be
created, listed, read and used, and it implements `Sign` for messages (`MessageType=RAW`)
but not for digests (it hashes a DIGEST again), which the tests use on purpose to show a
service that signs something else is caught. `kms_emulator(workdir)` starts it with a
certificate from the tests' own CA and yields a `KmsEmulator`; `env` is the environment
an AWS client needs to reach it (fake credentials, a region, the CA), with the instance
metadata lookup off so nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.support.certs import issue, make_ca
from tests.support.env import missing
from tests.support.processes import stop
from tests.support.registry import free_port

ACCESS_KEY = "AKIAEMULATOR00000000"
SECRET_KEY = "emulator-secret-key-never-printed-4f1c9a"


@dataclass(frozen=True)
class KmsEmulator:
    endpoint: str  # 127.0.0.1:PORT, as an awskms:// reference names it
    ca_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def client(self) -> Any:
        import boto3

        return boto3.session.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                                     region_name="us-east-1").client(
            "kms", endpoint_url=f"https://{self.endpoint}", verify=str(self.ca_path))


def _wait(process: subprocess.Popen[bytes], url: str, ca: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the KMS emulator exited with {process.returncode}")
        try:
            requests.get(url, verify=str(ca), timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise AssertionError("the KMS emulator did not answer within 60 s")


@contextlib.contextmanager
def kms_emulator(workdir: Path) -> Iterator[KmsEmulator]:
    # Found, not imported: importing moto hooks it into botocore in this process.
    if importlib.util.find_spec("moto") is None:
        missing("moto[server] (the AWS KMS emulator, in slsacheck[test])")
    ca = make_ca(workdir / "ca", "kms emulator test CA")
    leaf = issue(ca, workdir / "tls", "kms")
    port = free_port()
    log = (workdir / "moto.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port), "-c", str(leaf.cert_path),
         "-k", str(leaf.key_path)], stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(process, f"https://127.0.0.1:{port}/", ca.cert_path)
        env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_CA_BUNDLE": str(ca.cert_path),
               "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": str(workdir / "no-config"),
               "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "no-credentials")}
        yield KmsEmulator(f"127.0.0.1:{port}", ca.cert_path, env)
    finally:
        stop(process)
        log.close()
