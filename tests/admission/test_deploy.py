"""deploy/: the manifests render with kustomize, say what the webhook needs, and run what exists.

`kubectl kustomize deploy/` (offline) renders every object; the webhook configurations
fail closed within the API server's timeout, exclude kube-system and the webhook's own
namespace and need the opt-in label; the Deployment runs non-root on a read-only root
with probes on the real endpoints; its container arguments are a valid `slsacheck serve`
command line naming the mounted files. The shipped policy loads once given a real key
and refuses to load with the placeholder. gen-certs.sh makes a certificate the webhook
serves and a client verifies for the Service's DNS name.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from slsacheck.admission.app import build
from slsacheck.cli import build_parser
from slsacheck.errors import PolicyError
from slsacheck.oci.options import RegistryOptions
from slsacheck.policy.load import load_policies
from slsacheck.signing.keys import generate_key_pair
from tests.admission.support import serve_webhook
from tests.support.env import ROOT, require_tool

DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, Any]]:
    kubectl = require_tool("kubectl")
    out = subprocess.run([kubectl, "kustomize", str(DEPLOY)], capture_output=True, text=True, check=True, timeout=60)
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in yaml.safe_load_all(out.stdout) if d}


def test_every_object_is_there(rendered: dict[str, dict[str, Any]]) -> None:
    assert set(rendered) == {
        "Namespace/slsacheck-system", "ServiceAccount/slsacheck-webhook", "Deployment/slsacheck-webhook",
        "Service/slsacheck-webhook", "PodDisruptionBudget/slsacheck-webhook", "ConfigMap/slsacheck-policies",
        "ValidatingWebhookConfiguration/slsacheck-webhook", "MutatingWebhookConfiguration/slsacheck-webhook",
        "Issuer/slsacheck-selfsigned", "Certificate/slsacheck-webhook",
    }
    assert {"policy.yaml", "release.pub"} <= set(rendered["ConfigMap/slsacheck-policies"]["data"])


@pytest.mark.parametrize(("kind", "path"), [("ValidatingWebhookConfiguration", "/validate"),
                                            ("MutatingWebhookConfiguration", "/mutate")])
def test_webhooks_fail_closed_and_are_scoped(rendered: dict[str, dict[str, Any]], kind: str, path: str) -> None:
    config = rendered[f"{kind}/slsacheck-webhook"]
    assert config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == "slsacheck-system/slsacheck-webhook"
    (hook,) = config["webhooks"]
    assert hook["failurePolicy"] == "Fail" and hook["sideEffects"] == "None"
    assert hook["timeoutSeconds"] == 10 and hook["admissionReviewVersions"] == ["v1"]
    assert hook["clientConfig"]["service"] == {"name": "slsacheck-webhook", "namespace": "slsacheck-system",
                                               "path": path, "port": 443}
    expressions = {e["key"]: e for e in hook["namespaceSelector"]["matchExpressions"]}
    excluded = expressions["kubernetes.io/metadata.name"]
    assert excluded["operator"] == "NotIn" and set(excluded["values"]) == {"kube-system", "slsacheck-system"}
    assert expressions["slsacheck.dev/admission"]["operator"] == "In"
    resources = {r for rule in hook["rules"] for r in rule["resources"]}
    assert {"pods", "pods/ephemeralcontainers", "deployments", "replicasets", "statefulsets", "daemonsets",
            "jobs", "cronjobs"} <= resources
    assert all(set(rule["operations"]) == {"CREATE", "UPDATE"} for rule in hook["rules"])


# A verification peaks at about this many times its evidence budget (bench/bench_hostile_memory.py
# holds it), on top of the server itself.
PEAK_PER_BUDGET = 3
SERVER_MIB = 160


def _mib(quantity: str) -> int:
    units = {"Mi": 1, "Gi": 1024}
    return int(quantity[:-2]) * units[quantity[-2:]]


def test_memory_limit_holds_every_concurrent_verification_at_its_evidence_budget(
    rendered: dict[str, dict[str, Any]],
) -> None:
    (container,) = rendered["Deployment/slsacheck-webhook"]["spec"]["template"]["spec"]["containers"]
    args = build_parser().parse_args(container["args"])
    assert args.max_evidence_mib is not None, "the budget must be set where the limit is"
    needed = args.workers * PEAK_PER_BUDGET * args.max_evidence_mib + SERVER_MIB
    assert needed <= _mib(container["resources"]["limits"]["memory"])


def test_deployment_runs_locked_down_with_a_valid_command_line(rendered: dict[str, dict[str, Any]]) -> None:
    deployment = rendered["Deployment/slsacheck-webhook"]
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65532
    assert pod["affinity"]["podAntiAffinity"]
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    args = build_parser().parse_args(container["args"])
    assert args.command == "serve" and args.budget_seconds < 10 and args.mode == "enforce"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert args.policy == [f"{mounts['policies']}/policy.yaml"]
    assert volumes["policies"]["configMap"]["name"] == "slsacheck-policies"
    assert args.tls_cert.startswith(mounts["tls"]) and args.tls_key.startswith(mounts["tls"])
    assert volumes["tls"]["secret"]["secretName"] == rendered["Certificate/slsacheck-webhook"]["spec"]["secretName"]
    assert args.docker_config == mounts["docker-config"]
    assert volumes["docker-config"]["secret"]["items"] == [{"key": ".dockerconfigjson", "path": "config.json"}]


def test_shipped_policy_loads_with_a_key_and_fails_closed_without(tmp_path: Path) -> None:
    with pytest.raises(PolicyError):
        load_policies([DEPLOY / "policies" / "policy.yaml"])  # the placeholder key
    shutil.copy(DEPLOY / "policies" / "policy.yaml", tmp_path / "policy.yaml")
    (tmp_path / "release.pub").write_bytes(generate_key_pair(b"", scrypt_n=2**15)[1])
    assert [p.name for p in load_policies([tmp_path / "policy.yaml"]).policies] == ["release-signed"]


@dataclass(frozen=True)
class _Files:
    cert_path: Path
    key_path: Path


def test_gen_certs_serves_the_service_name(tmp_path: Path) -> None:
    require_tool("openssl")
    out = tmp_path / "certs"
    subprocess.run(["sh", str(DEPLOY / "gen-certs.sh"), "--out", str(out), "--namespace", "ns1"], check=True,
                   capture_output=True, timeout=60)
    assert {p.name for p in out.iterdir()} == {"ca.crt", "tls.crt", "tls.key"}  # the CA key is gone
    shutil.copy(DEPLOY / "policies" / "policy.yaml", tmp_path / "policy.yaml")
    (tmp_path / "release.pub").write_bytes(generate_key_pair(b"", scrypt_n=2**15)[1])
    webhook = build([tmp_path / "policy.yaml"], RegistryOptions())
    with serve_webhook(webhook, _Files(out / "tls.crt", out / "tls.key"), out / "ca.crt") as running:  # type: ignore[arg-type]
        context = ssl.create_default_context(cafile=str(out / "ca.crt"))
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname="slsacheck-webhook.ns1.svc") as tls:
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: slsacheck-webhook.ns1.svc\r\nConnection: close\r\n\r\n")
            assert tls.recv(1024).startswith(b"HTTP/1.1 200")
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as raw, \
                pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(raw, server_hostname="other.ns1.svc")


def test_gen_certs_adds_the_extra_names_asked_for(tmp_path: Path) -> None:
    from cryptography import x509

    require_tool("openssl")
    out = tmp_path / "certs"
    subprocess.run(["sh", str(DEPLOY / "gen-certs.sh"), "--out", str(out), "--san", "webhook.example.com",
                    "--san", "IP:10.0.0.7"], check=True, capture_output=True, timeout=60)
    cert = x509.load_pem_x509_certificate((out / "tls.crt").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [
        "slsacheck-webhook.slsacheck-system.svc", "slsacheck-webhook.slsacheck-system.svc.cluster.local",
        "webhook.example.com"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.7"]
    bad = subprocess.run(["sh", str(DEPLOY / "gen-certs.sh"), "--out", str(tmp_path / "x"), "--san", "a b"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "is not a DNS name" in bad.stderr
