"""Factories for objects shaped exactly like a real cluster returns them.

The agent, kubectl and client-go decode what the simulator serves, so every
object carries the fields a v1.32 cluster fills in after defaulting
(`kubectl get -o json`): managedFields, ownerReferences, default tolerations,
the projected service-account volume, conditions with both timestamps, and so
on. Getting these right here is what makes the simulator a fair test bed.

Everything random (uids, name suffixes, container ids, IPs) comes from the
`random.Random` the caller passes in, so a seeded scenario builds identical
objects on every run. Objects are plain dicts built directly (no deep copies,
no round trips through JSON) because populating 150k pods must stay fast, and
the parts that many pods share (labels, owner references, managedFields,
tolerations) are shared dicts: stored objects are never mutated in place, and
`ObjectStore.get` hands out deep copies for changes.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from typing import Any, TypeAlias

import msgspec

__all__ = [
    "KUBELET_VERSION",
    "SAFE_ALPHABET",
    "Obj",
    "PodBlueprint",
    "condition",
    "container_id",
    "fields_v1",
    "hex_id",
    "image_id",
    "make_container",
    "make_deployment",
    "make_event",
    "make_namespace",
    "make_node",
    "make_pod_template",
    "make_replicaset",
    "make_uid",
    "node_host_ip",
    "node_pod_cidr_prefix",
    "normalized_image",
    "parse_cpu_millis",
    "parse_memory_bytes",
    "pod_template_hash",
    "qos_class",
    "random_suffix",
    "resolve_fenceposts",
    "running_conditions",
    "touch_managed_fields",
]

Obj: TypeAlias = dict[str, Any]

# The alphabet of apimachinery's rand.String and SafeEncodeString: no vowels
# (no accidental words) and no confusable characters.
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
KUBELET_VERSION = "v1.32.2"
CONTAINER_RUNTIME_VERSION = "containerd://1.7.24"

_SERVICE_ACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


# --- names and ids -----------------------------------------------------------


def random_suffix(rng: random.Random, length: int = 5) -> str:
    """The random tail of a generated name (`web-7d4b9c8f6d-x2k9p`)."""
    size = len(SAFE_ALPHABET)
    number = rng.randrange(size**length)
    chars = []
    for _ in range(length):
        number, digit = divmod(number, size)
        chars.append(SAFE_ALPHABET[digit])
    return "".join(chars)


def safe_encode(text: str) -> str:
    """apimachinery's SafeEncodeString: each byte mapped into SAFE_ALPHABET."""
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in text.encode())


def pod_template_hash(template: Obj, collision_count: int = 0) -> str:
    """The `pod-template-hash` label of the ReplicaSet for this template.

    Like the deployment controller: a 32-bit FNV-1a hash of the template (and
    the collision count), its decimal digits safe-encoded, which is why real
    hashes only use the characters 4-9, b, c, d, f (`7d4b9c8f6d`). Equal
    templates give equal hashes, so a rollback finds its old ReplicaSet again.
    """
    data = msgspec.json.encode(template, order="sorted")
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    if collision_count:
        for byte in str(collision_count).encode():
            value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return safe_encode(str(value))


def make_uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def hex_id(rng: random.Random, nbytes: int) -> str:
    return format(rng.getrandbits(nbytes * 8), f"0{nbytes * 2}x")


def container_id(rng: random.Random) -> str:
    return "containerd://" + hex_id(rng, 32)


def normalized_image(image: str) -> str:
    """The image reference as containerd reports it (`docker.io/library/nginx:1.27`)."""
    name = image
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif "." not in first and ":" not in first and first != "localhost":
        name = "docker.io/" + name
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        name += ":latest"
    return name


def image_id(image: str) -> str:
    """A stable digest reference for an image: the same tag always has the same digest."""
    repo = normalized_image(image).rsplit(":", 1)[0]
    digest = hashlib.sha256(image.encode()).hexdigest()
    return f"{repo}@sha256:{digest}"


# --- quantities --------------------------------------------------------------

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_cpu_cache: dict[str, int] = {}
_mem_cache: dict[str, int] = {}


def parse_cpu_millis(quantity: str) -> int:
    """CPU quantity in millicores, rounded up like the scheduler accounts it."""
    cached = _cpu_cache.get(quantity)
    if cached is not None:
        return cached
    text = quantity.strip()
    try:
        if text.endswith("m"):
            value = int(-(-float(text[:-1]) // 1))
        else:
            value = int(-(-float(text) * 1000 // 1))
    except ValueError:
        raise ValueError(f"not a CPU quantity: {quantity!r}") from None
    _cpu_cache[quantity] = value
    return value


def parse_memory_bytes(quantity: str) -> int:
    """Memory quantity in bytes (binary and decimal suffixes)."""
    cached = _mem_cache.get(quantity)
    if cached is not None:
        return cached
    text = quantity.strip()
    factor = 1
    for suffixes in (_BINARY, _DECIMAL):
        for suffix, multiplier in suffixes.items():
            if text.endswith(suffix):
                text, factor = text[: -len(suffix)], multiplier
                break
        if factor != 1:
            break
    try:
        value = int(-(-float(text) * factor // 1))
    except ValueError:
        raise ValueError(f"not a memory quantity: {quantity!r}") from None
    _mem_cache[quantity] = value
    return value


def resolve_fenceposts(strategy: Obj, replicas: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) of a RollingUpdate strategy as absolute counts.

    As the deployment controller resolves them: surge rounds up, unavailable
    rounds down, and both zero would deadlock a rollout, so unavailable becomes 1.
    """
    rolling = strategy.get("rollingUpdate") or {}

    def scaled(value: Any, *, round_up: bool) -> int:
        if value is None:
            value = "25%"
        if isinstance(value, int):
            return value
        text = str(value)
        if text.endswith("%"):
            percent = int(text[:-1])
            whole, rest = divmod(percent * replicas, 100)
            return whole + (1 if round_up and rest else 0)
        return int(text)

    surge = scaled(rolling.get("maxSurge"), round_up=True)
    unavailable = scaled(rolling.get("maxUnavailable"), round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def qos_class(containers: list[Obj]) -> str:
    """The pod's QoS class from its containers' requests and limits."""
    any_set = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        if requests or limits:
            any_set = True
        for resource in ("cpu", "memory"):
            limit = limits.get(resource)
            if limit is None or requests.get(resource, limit) != limit:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


# --- managedFields -----------------------------------------------------------

_LIST_KEYS = (("name",), ("type",), ("containerPort", "protocol"), ("ip",), ("key", "effect"))


def fields_v1(part: Obj) -> Obj:
    """The `fieldsV1` set of a field manager that owns every field of `part`.

    Structured like the API server's: `f:<field>` per field, `.` on nested maps
    a manager owns as a whole, `k:{...}` keys for list items with merge keys.
    """
    return {f"f:{key}": _field_node(part[key], top=True) for key in sorted(part)}


# Field sets of lists already seen, by identity: the containers list of a
# template is shared by its Deployment, ReplicaSet and pods, and computing its
# field set is the costly part. The entry keeps the list alive, so its id
# cannot be reused while cached.
_LIST_FIELDS: dict[int, tuple[list[Any], Obj]] = {}
_LIST_FIELDS_MAX = 256


def _field_node(value: Any, *, top: bool = False) -> Obj:
    if type(value) is list:
        cached = _LIST_FIELDS.get(id(value))
        if cached is not None and cached[0] is value:
            return cached[1]
    if type(value) is dict:
        if not value:
            return {}
        node: Obj = {} if top else {".": {}}
        for key in sorted(value):
            node["f:" + key] = _field_node(value[key])
        return node
    if type(value) is list and value and all(type(item) is dict for item in value):
        for keys in _LIST_KEYS:
            if all(k in item for item in value for k in keys):
                items: Obj = {}
                for item in value:
                    merge_key = ",".join(f'"{k}":{_json_scalar(item[k])}' for k in keys)
                    items["k:{" + merge_key + "}"] = _field_node(item) or {".": {}}
                if len(_LIST_FIELDS) >= _LIST_FIELDS_MAX:
                    _LIST_FIELDS.clear()
                _LIST_FIELDS[id(value)] = (value, items)
                return items
    return {}


def _json_scalar(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return json.dumps(value)


def _managed_entry(manager: str, fields: Obj, time: str, *, subresource: str | None = None) -> Obj:
    entry: Obj = {
        "apiVersion": "v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
        "manager": manager,
        "operation": "Update",
    }
    if subresource:
        entry["subresource"] = subresource
    entry["time"] = time
    return entry


def condition(
    kind: str,
    status: str,
    now: str,
    *,
    reason: str | None = None,
    message: str | None = None,
    probe: bool = True,
) -> Obj:
    """One pod-style condition; `probe` adds the `lastProbeTime: null` pods carry."""
    cond: Obj = {}
    if probe:
        cond["lastProbeTime"] = None
    cond["lastTransitionTime"] = now
    if message is not None:
        cond["message"] = message
    if reason is not None:
        cond["reason"] = reason
    cond["status"] = status
    cond["type"] = kind
    return cond


# --- namespaces and nodes ----------------------------------------------------


def make_namespace(*, name: str, uid: str, created: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "creationTimestamp": created,
            "labels": {"kubernetes.io/metadata.name": name},
            "name": name,
            "uid": uid,
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def node_host_ip(index: int) -> str:
    """The node's InternalIP: one /12 private range, enough for 65k nodes."""
    n = index + 10
    return f"172.{16 + n // 65536}.{(n // 256) % 256}.{n % 256}"


def node_pod_cidr_prefix(index: int) -> str:
    """The first three octets of the node's /24 pod CIDR (10.64.0.0/10 is the cluster CIDR)."""
    return f"10.{64 + index // 256}.{index % 256}"


_NODE_IMAGES = [
    {
        "names": [
            "registry.k8s.io/kube-proxy@sha256:" + hashlib.sha256(b"kube-proxy").hexdigest(),
            f"registry.k8s.io/kube-proxy:{KUBELET_VERSION}",
        ],
        "sizeBytes": 30908386,
    },
    {
        "names": [
            "docker.io/calico/node@sha256:" + hashlib.sha256(b"calico-node").hexdigest(),
            "docker.io/calico/node:v3.29.1",
        ],
        "sizeBytes": 142488221,
    },
    {
        "names": [
            "registry.k8s.io/pause@sha256:" + hashlib.sha256(b"pause").hexdigest(),
            "registry.k8s.io/pause:3.10",
        ],
        "sizeBytes": 320368,
    },
]


def make_node(
    *,
    name: str,
    index: int,
    uid: str,
    created: str,
    heartbeat: str,
    control_plane: bool,
    zone: str,
    region: str,
    rng: random.Random,
) -> Obj:
    """A healthy, schedulable node as kubelet registers and reports it."""
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": "m6i.2xlarge",
        "beta.kubernetes.io/os": "linux",
        "failure-domain.beta.kubernetes.io/region": region,
        "failure-domain.beta.kubernetes.io/zone": zone,
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "m6i.2xlarge",
        "topology.kubernetes.io/region": region,
        "topology.kubernetes.io/zone": zone,
    }
    spec: Obj = {
        "podCIDR": f"{node_pod_cidr_prefix(index)}.0/24",
        "podCIDRs": [f"{node_pod_cidr_prefix(index)}.0/24"],
        "providerID": f"aws:///{zone}/i-0{hex_id(rng, 8)[:16]}",
    }
    if control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
        spec["taints"] = [{"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}]
    host_ip = node_host_ip(index)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "annotations": {
                "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock",
                "node.alpha.kubernetes.io/ttl": "0",
                "projectcalico.org/IPv4Address": f"{host_ip}/20",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
            "creationTimestamp": created,
            "labels": labels,
            "name": name,
            "uid": uid,
        },
        "spec": spec,
        "status": {
            "addresses": [
                {"address": host_ip, "type": "InternalIP"},
                {"address": name, "type": "Hostname"},
            ],
            "allocatable": {
                "cpu": "7910m",
                "ephemeral-storage": "95491281146",
                "hugepages-1Gi": "0",
                "hugepages-2Mi": "0",
                "memory": "31676176Ki",
                "pods": "110",
            },
            "capacity": {
                "cpu": "8",
                "ephemeral-storage": "103609100Ki",
                "hugepages-1Gi": "0",
                "hugepages-2Mi": "0",
                "memory": "32827152Ki",
                "pods": "110",
            },
            "conditions": [
                _node_condition(
                    "NetworkUnavailable",
                    "False",
                    "CalicoIsUp",
                    "Calico is running on this node",
                    heartbeat=heartbeat,
                    transition=created,
                ),
                _node_condition(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                    heartbeat=heartbeat,
                    transition=created,
                ),
                _node_condition(
                    "DiskPressure",
                    "False",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                    heartbeat=heartbeat,
                    transition=created,
                ),
                _node_condition(
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                    heartbeat=heartbeat,
                    transition=created,
                ),
                _node_condition(
                    "Ready",
                    "True",
                    "KubeletReady",
                    "kubelet is posting ready status",
                    heartbeat=heartbeat,
                    transition=created,
                ),
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "images": _NODE_IMAGES,
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": make_uid(rng),
                "containerRuntimeVersion": CONTAINER_RUNTIME_VERSION,
                "kernelVersion": "6.8.0-1021-aws",
                "kubeProxyVersion": KUBELET_VERSION,
                "kubeletVersion": KUBELET_VERSION,
                "machineID": hex_id(rng, 16),
                "operatingSystem": "linux",
                "osImage": "Ubuntu 24.04.1 LTS",
                "systemUUID": "ec2" + make_uid(rng)[3:],
            },
            "runtimeHandlers": [
                {"features": {"recursiveReadOnlyMounts": True, "userNamespaces": True}, "name": ""},
                {
                    "features": {"recursiveReadOnlyMounts": True, "userNamespaces": True},
                    "name": "runc",
                },
            ],
        },
    }


def _node_condition(
    kind: str, status: str, reason: str, message: str, *, heartbeat: str, transition: str
) -> Obj:
    return {
        "lastHeartbeatTime": heartbeat,
        "lastTransitionTime": transition,
        "message": message,
        "reason": reason,
        "status": status,
        "type": kind,
    }


# --- deployments and replicasets ---------------------------------------------


def make_container(
    *,
    name: str,
    image: str,
    cpu_request: str,
    memory_request: str,
    cpu_limit: str | None,
    memory_limit: str | None,
    port: int | None = None,
    config_map: str | None = None,
) -> Obj:
    """One container of a pod template, with the API server's defaults filled in."""
    container: Obj = {"image": image, "imagePullPolicy": "IfNotPresent", "name": name}
    if config_map is not None:
        container["envFrom"] = [{"configMapRef": {"name": config_map}}]
    if port is not None:
        container["ports"] = [{"containerPort": port, "name": "http", "protocol": "TCP"}]
    limits: Obj = {}
    if cpu_limit is not None:
        limits["cpu"] = cpu_limit
    if memory_limit is not None:
        limits["memory"] = memory_limit
    resources: Obj = {}
    if limits:
        resources["limits"] = limits
    resources["requests"] = {"cpu": cpu_request, "memory": memory_request}
    container["resources"] = resources
    container["terminationMessagePath"] = "/dev/termination-log"
    container["terminationMessagePolicy"] = "File"
    return container


def make_pod_template(*, labels: dict[str, str], containers: list[Obj]) -> Obj:
    """`spec.template` of a Deployment after defaulting."""
    return {
        "metadata": {"creationTimestamp": None, "labels": labels},
        "spec": {
            "containers": containers,
            "dnsPolicy": "ClusterFirst",
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "terminationGracePeriodSeconds": 30,
        },
    }


def make_deployment(
    *,
    namespace: str,
    name: str,
    uid: str,
    created: str,
    replicas: int,
    template: Obj,
    progress_deadline: int = 600,
    revision_history: int = 10,
) -> Obj:
    """A Deployment as `kubectl apply` leaves it, before the controller has seen it."""
    selector = {"matchLabels": dict(template["metadata"]["labels"])}
    spec: Obj = {
        "progressDeadlineSeconds": progress_deadline,
        "replicas": replicas,
        "revisionHistoryLimit": revision_history,
        "selector": selector,
        "strategy": {
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            "type": "RollingUpdate",
        },
        "template": template,
    }
    labels = dict(template["metadata"]["labels"])
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "annotations": {},
            "creationTimestamp": created,
            "generation": 1,
            "labels": labels,
            "managedFields": [
                _managed_entry(
                    "kubectl-client-side-apply",
                    {"f:metadata": {"f:labels": _field_node(labels)}, "f:spec": fields_v1(spec)},
                    created,
                )
            ],
            "name": name,
            "namespace": namespace,
            "uid": uid,
        },
        "spec": spec,
        "status": {},
    }


def make_replicaset(
    *,
    deployment: Obj,
    template_hash: str,
    replicas: int,
    revision: int,
    uid: str,
    created: str,
) -> Obj:
    """The ReplicaSet the deployment controller creates for the current template."""
    d_meta = deployment["metadata"]
    d_spec = deployment["spec"]
    name = f"{d_meta['name']}-{template_hash}"
    template = d_spec["template"]
    template_meta = template.get("metadata") or {}
    pod_labels = {**(template_meta.get("labels") or {}), "pod-template-hash": template_hash}
    rs_template = {
        "metadata": {**template_meta, "labels": pod_labels},
        "spec": template["spec"],
    }
    desired = int(d_spec.get("replicas", 1))
    surge, _ = resolve_fenceposts(d_spec.get("strategy") or {}, desired)
    spec: Obj = {
        "replicas": replicas,
        "selector": {
            **d_spec.get("selector", {}),
            "matchLabels": {
                **(d_spec.get("selector", {}).get("matchLabels") or {}),
                "pod-template-hash": template_hash,
            },
        },
        "template": rs_template,
    }
    annotations = {
        "deployment.kubernetes.io/desired-replicas": str(desired),
        "deployment.kubernetes.io/max-replicas": str(desired + surge),
        "deployment.kubernetes.io/revision": str(revision),
    }
    owner = {
        "apiVersion": "apps/v1",
        "blockOwnerDeletion": True,
        "controller": True,
        "kind": "Deployment",
        "name": d_meta["name"],
        "uid": d_meta["uid"],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "annotations": annotations,
            "creationTimestamp": created,
            "generation": 1,
            "labels": pod_labels,
            "managedFields": [
                _managed_entry(
                    "kube-controller-manager",
                    {
                        "f:metadata": {
                            "f:annotations": _field_node(annotations),
                            "f:labels": _field_node(pod_labels),
                            "f:ownerReferences": _field_node([owner]),
                        },
                        "f:spec": fields_v1(spec),
                    },
                    created,
                )
            ],
            "name": name,
            "namespace": d_meta["namespace"],
            "ownerReferences": [owner],
            "uid": uid,
        },
        "spec": spec,
        "status": {"replicas": 0},
    }


# --- pods --------------------------------------------------------------------


_DEFAULT_TOLERATIONS = [
    {
        "effect": "NoExecute",
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "tolerationSeconds": 300,
    },
    {
        "effect": "NoExecute",
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "tolerationSeconds": 300,
    },
]

_PROJECTED_SOURCES = [
    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
    {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
    {
        "downwardAPI": {
            "items": [
                {
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                    "path": "namespace",
                }
            ]
        }
    },
]


class PodBlueprint:
    """What every pod of one ReplicaSet shares, computed once per ReplicaSet.

    The ReplicaSet controller stamps pods out of its template; doing the same
    here (shared labels, owner reference, managedFields, resources) is what
    lets `populate()` build 150k pods in seconds and keeps their memory low.
    """

    __slots__ = (
        "_controller_fields",
        "containers",
        "images",
        "labels",
        "namespace",
        "owner_references",
        "qos",
        "rs_name",
        "template_spec",
    )

    def __init__(self, replicaset: Obj) -> None:
        meta = replicaset["metadata"]
        template = replicaset["spec"]["template"]
        self.namespace: str = meta["namespace"]
        self.rs_name: str = meta["name"]
        self.labels: dict[str, str] = (template.get("metadata") or {}).get("labels") or {}
        self.owner_references: list[Obj] = [
            {
                "apiVersion": "apps/v1",
                "blockOwnerDeletion": True,
                "controller": True,
                # A StatefulSet stamps its pods out of the same kind of template.
                "kind": replicaset.get("kind") or "ReplicaSet",
                "name": meta["name"],
                "uid": meta["uid"],
            }
        ]
        self.template_spec: Obj = template["spec"]
        self.containers: list[Obj] = self.template_spec["containers"]
        self.qos = qos_class(self.containers)
        self.images: list[tuple[str, str]] = [
            (normalized_image(c["image"]), image_id(c["image"])) for c in self.containers
        ]
        spec_part = {k: v for k, v in self.template_spec.items() if k != "containers"}
        spec_part["containers"] = self.containers
        spec_part["enableServiceLinks"] = True
        self._controller_fields: Obj = {
            "f:metadata": {
                "f:generateName": {},
                "f:labels": _field_node(self.labels),
                "f:ownerReferences": _field_node(self.owner_references),
            },
            "f:spec": fields_v1(spec_part),
        }

    def new_pod(self, *, name: str, uid: str, created: str, volume_suffix: str) -> Obj:
        """A pod as the ReplicaSet controller creates it: Pending, not yet scheduled."""
        volume = f"kube-api-access-{volume_suffix}"
        mount = [{"mountPath": _SERVICE_ACCOUNT_MOUNT, "name": volume, "readOnly": True}]
        containers = [{**c, "volumeMounts": mount} for c in self.containers]
        spec = dict(self.template_spec)
        spec["containers"] = containers
        spec["enableServiceLinks"] = True
        spec["preemptionPolicy"] = "PreemptLowerPriority"
        spec["priority"] = 0
        spec["serviceAccount"] = "default"
        spec["serviceAccountName"] = "default"
        spec["tolerations"] = _DEFAULT_TOLERATIONS
        spec["volumes"] = [
            {"name": volume, "projected": {"defaultMode": 420, "sources": _PROJECTED_SOURCES}}
        ]
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "creationTimestamp": created,
                "generateName": self.rs_name + "-",
                "labels": self.labels,
                "managedFields": [
                    _managed_entry("kube-controller-manager", self._controller_fields, created)
                ],
                "name": name,
                "namespace": self.namespace,
                "ownerReferences": self.owner_references,
                "uid": uid,
            },
            "spec": spec,
            "status": {"phase": "Pending", "qosClass": self.qos},
        }

    def running_pod(
        self,
        *,
        name: str,
        uid: str,
        created: str,
        volume_suffix: str,
        node_name: str,
        host_ip: str,
        pod_ip: str,
        container_ids: list[str],
        restarts: int = 0,
        last_state: Obj | None = None,
        main_started: str | None = None,
        shared_conditions: list[Obj] | None = None,
    ) -> Obj:
        """A scheduled, running and ready pod, as `populate()` finds the cluster.

        `shared_conditions` lets pods created together share one conditions
        list; `last_state` gives the first container an earlier termination and
        `main_started` the start of its current instance.
        """
        pod = self.new_pod(name=name, uid=uid, created=created, volume_suffix=volume_suffix)
        pod["spec"]["nodeName"] = node_name
        mounts = pod["spec"]["containers"][0]["volumeMounts"]
        statuses = []
        for index, container in enumerate(self.containers):
            image, digest = self.images[index]
            first = index == 0
            statuses.append(
                {
                    "containerID": container_ids[index],
                    "image": image,
                    "imageID": digest,
                    "lastState": (last_state if first and last_state else {}),
                    "name": container["name"],
                    "ready": True,
                    "restartCount": restarts if first else 0,
                    "started": True,
                    "state": {
                        "running": {"startedAt": (main_started or created) if first else created}
                    },
                    "volumeMounts": [{**mounts[0], "recursiveReadOnly": "Disabled"}],
                }
            )
        statuses.sort(key=lambda s: str(s["name"]))
        conditions = shared_conditions or running_conditions(created)
        pod["status"] = {
            "conditions": conditions,
            "containerStatuses": statuses,
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "phase": "Running",
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "qosClass": self.qos,
            "startTime": created,
        }
        pod["metadata"]["managedFields"].append(
            _managed_entry("kubelet", _KUBELET_FIELDS, created, subresource="status")
        )
        return pod


def running_conditions(now: str) -> list[Obj]:
    """The five conditions of a pod whose containers all run and are ready."""
    return [
        condition("PodReadyToStartContainers", "True", now),
        condition("Initialized", "True", now),
        condition("Ready", "True", now),
        condition("ContainersReady", "True", now),
        condition("PodScheduled", "True", now),
    ]


_KUBELET_FIELDS: Obj = {
    "f:status": {
        "f:conditions": {
            f'k:{{"type":"{kind}"}}': {
                ".": {},
                "f:lastProbeTime": {},
                "f:lastTransitionTime": {},
                "f:status": {},
                "f:type": {},
            }
            for kind in ("ContainersReady", "Initialized", "PodReadyToStartContainers", "Ready")
        },
        "f:containerStatuses": {},
        "f:hostIP": {},
        "f:hostIPs": {},
        "f:phase": {},
        "f:podIP": {},
        "f:podIPs": {},
        "f:startTime": {},
    }
}


def touch_managed_fields(obj: Obj, *, manager: str, now: str, subresource: str | None) -> None:
    """Record that `manager` wrote the object at `now`, as the API server would.

    Replaces the manager's entry with a new dict (never mutating a shared one);
    adds the kubelet's status entry the first time kubelet writes.
    """
    entries: list[Obj] = obj["metadata"].setdefault("managedFields", [])
    for index, entry in enumerate(entries):
        if entry.get("manager") == manager and entry.get("subresource") == subresource:
            entries[index] = {**entry, "time": now}
            return
    fields = _KUBELET_FIELDS if manager == "kubelet" else {}
    entries.append(_managed_entry(manager, fields, now, subresource=subresource))


# --- events ------------------------------------------------------------------


def make_event(
    *,
    name: str,
    involved: Obj,
    reason: str,
    message: str,
    warning: bool,
    component: str,
    host: str | None,
    now: str,
    field_path: str | None = None,
) -> Obj:
    """A core/v1 Event about `involved`, as a component's event recorder posts it."""
    meta = involved["metadata"]
    involved_ref: Obj = {"apiVersion": involved["apiVersion"]}
    if field_path:
        involved_ref["fieldPath"] = field_path
    involved_ref["kind"] = involved["kind"]
    involved_ref["name"] = meta["name"]
    namespace = meta.get("namespace")
    if namespace:
        involved_ref["namespace"] = namespace
    if meta.get("resourceVersion"):
        involved_ref["resourceVersion"] = meta["resourceVersion"]
    if meta.get("uid"):
        involved_ref["uid"] = meta["uid"]
    source: Obj = {"component": component}
    if host:
        source["host"] = host
    return {
        "apiVersion": "v1",
        "count": 1,
        "eventTime": None,
        "firstTimestamp": now,
        "involvedObject": involved_ref,
        "kind": "Event",
        "lastTimestamp": now,
        "message": message,
        "metadata": {
            "creationTimestamp": now,
            "name": name,
            "namespace": namespace or "default",
        },
        "reason": reason,
        "reportingComponent": component,
        "reportingInstance": host or "",
        "source": source,
        "type": "Warning" if warning else "Normal",
    }
