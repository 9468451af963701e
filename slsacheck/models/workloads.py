"""Where each Kubernetes workload kind keeps its Pod spec (pure data, no I/O).

One table for every reader of workload objects: the admission webhook (what a review
admits) and the fleet audit (what an inventory runs). A kind added here is read by both.
"""

from __future__ import annotations

from collections.abc import Mapping

# kind -> JSON Pointer tokens from the object's root to its Pod spec.
POD_SPEC_PATHS: Mapping[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "PodTemplate": ("template", "spec"),
}
