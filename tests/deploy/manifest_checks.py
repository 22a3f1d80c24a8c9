"""Checks that the rendered Kubernetes manifests keep their security promises.

Each check takes parsed objects and returns a list of human-readable
violations (empty when the manifests are fine) rather than asserting, so the
same functions are run both on the real kustomize output and on deliberately
broken manifests that prove each check can fail.

The rules encoded here are the deploy/ contract: read-only RBAC on exactly the
kinds the agent watches (a Lease being the one write), the *restricted* Pod
Security Standard plus a read-only root filesystem, probes on the named port,
the recommended labels everywhere, and wiring that matches the agent's
command-line contract (environment names, mount paths, the lease name).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import kubernetes_validate

from kinds import KINDS

Manifest = dict[str, Any]

#: The labels every object and pod template carries, with their values.
REQUIRED_LABELS: Mapping[str, str] = {
    "app.kubernetes.io/name": "kube-watchcache",
    "app.kubernetes.io/component": "mcp-server",
    "app.kubernetes.io/part-of": "kube-watchcache",
}

READ_VERBS = frozenset({"get", "list", "watch"})
LEASE_VERBS = frozenset({"get", "create", "update"})
LEASE = ("coordination.k8s.io", "leases")
#: (API group, resource) pairs the agent may read: every kind of the registry
#: (the stored kinds, and replicasets to follow a pod's owner to its Deployment).
READABLE = frozenset(
    (spec.resource.group_version.rpartition("/")[0], spec.resource.plural)
    for spec in KINDS.values()
)
FORBIDDEN_RESOURCES = frozenset({"secrets", "configmaps"})
#: The one namespace the agent may get, and only get: its uid is the cluster's identity.
IDENTITY = ("", "namespaces")
IDENTITY_NAMES = ["kube-system"]

#: Environment the agent reads (cli-contract.md), plus KUBE_WATCHCACHE_KINDS,
#: which the namespaced overlay needs to leave cluster-scoped nodes out.
CONTRACT_ENV = frozenset(
    {
        "KUBECONFIG",
        "POD_NAMESPACE",
        "POD_NAME",
        *(
            f"KUBE_WATCHCACHE_{name}"
            for name in (
                "CONFIG",
                "DEMO",
                "TRANSPORT",
                "HOST",
                "PORT",
                "DB",
                "CONTEXT",
                "NAMESPACES",
                "LABEL_SELECTOR",
                "TOKEN_FILE",
                "TOKENS",
                "METRICS_AUTH",
                "ALLOWED_HOSTS",
                "ALLOWED_ORIGINS",
                "RATE_LIMIT",
                "WEBHOOK_URL",
                "WEBHOOK_SECRET_FILE",
                "LEADER_ELECTION",
                "LEASE_NAME",
                "HISTORY_RETENTION",
                "LOG_LEVEL",
                "LOG_FORMAT",
                "KINDS",
            )
        ),
    }
)
DEFAULT_LEASE_NAME = "kube-watchcache"
#: The agent exits within this many seconds of SIGTERM (cli-contract.md).
AGENT_SHUTDOWN_SECONDS = 10
#: A startup probe must give the initial sync of a large cluster this long.
STARTUP_BUDGET_SECONDS = 600
HTTP_PORT = 8080

# Pod Security Standards, "restricted" profile (Kubernetes 1.32).
RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
ALLOWED_SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
#: Kinds served by CustomResourceDefinitions: no schema ships with Kubernetes.
CRD_API_GROUPS = frozenset({"monitoring.coreos.com"})


def name_of(obj: Manifest) -> str:
    """`Kind/namespace/name`, the way violations refer to an object."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    where = f"{namespace}/" if namespace else ""
    return f"{obj.get('kind')}/{where}{meta.get('name')}"


def of_kind(objects: Sequence[Manifest], kind: str) -> list[Manifest]:
    return [obj for obj in objects if obj.get("kind") == kind]


def pod_template_spec(obj: Manifest) -> Manifest | None:
    """The pod spec a workload object runs, or None for objects that run no pods."""
    if obj.get("kind") == "Pod":
        spec: Manifest = obj.get("spec") or {}
        return spec
    if obj.get("kind") in WORKLOAD_KINDS:
        template: Manifest = (obj.get("spec") or {}).get("template") or {}
        template_spec: Manifest = template.get("spec") or {}
        return template_spec
    if obj.get("kind") == "CronJob":
        job: Manifest = ((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}
        cron_spec: Manifest = (job.get("template") or {}).get("spec") or {}
        return cron_spec
    return None


def all_containers(pod_spec: Manifest) -> Iterator[tuple[str, Manifest]]:
    """Every container the kubelet may run: regular, init and ephemeral."""
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in pod_spec.get(field) or []:
            yield f"{field}[{container.get('name')}]", container


# --- schema ---------------------------------------------------------------------------


def is_custom_resource(obj: Manifest) -> bool:
    group = str(obj.get("apiVersion", "")).partition("/")[0]
    return group in CRD_API_GROUPS


def schema_violations(objects: Sequence[Manifest], *, kubernetes_version: str) -> list[str]:
    """Validate every built-in object against the OpenAPI schema of one release.

    Strict schemas reject unknown fields, so a misspelt key fails here instead of
    being silently dropped by the API server. Custom resources have no schema in
    the package and are skipped (their fields are checked by hand elsewhere).
    """
    problems: list[str] = []
    for obj in objects:
        if is_custom_resource(obj):
            continue
        try:
            kubernetes_validate.validate(obj, kubernetes_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            problems.append(f"{name_of(obj)}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{name_of(obj)}: {exc.message}")
    return problems


# --- RBAC -----------------------------------------------------------------------------


def _rule_violations(rule: Manifest, *, where: str, lease_allowed: bool) -> list[str]:
    problems: list[str] = []
    if rule.get("nonResourceURLs"):
        problems.append(f"{where}: grants non-resource URLs {rule['nonResourceURLs']}")
    groups = list(rule.get("apiGroups") or [])
    resources = list(rule.get("resources") or [])
    verbs = set(rule.get("verbs") or [])
    names = list(rule.get("resourceNames") or [])
    for field, values in (
        ("apiGroups", groups),
        ("resources", resources),
        ("verbs", verbs),
        ("resourceNames", names),
    ):
        if any("*" in str(value) for value in values):
            problems.append(f"{where}: wildcard in {field}: {sorted(map(str, values))}")
    if resources and not groups:
        problems.append(f"{where}: resources {resources} without apiGroups")
    for resource in resources:
        if resource.partition("/")[0] in FORBIDDEN_RESOURCES:
            problems.append(f"{where}: touches {resource}")
    for group in groups:
        for resource in resources:
            if (group, resource) == LEASE:
                if not lease_allowed:
                    problems.append(
                        f"{where}: leases are granted only by a Role in the agent's namespace"
                    )
                extra = verbs - LEASE_VERBS
                if extra:
                    problems.append(f"{where}: leases verbs beyond get/create/update: {extra}")
                if verbs & {"get", "update"} and not names:
                    problems.append(
                        f"{where}: get/update on leases not restricted by resourceNames"
                    )
            elif (group, resource) == IDENTITY:
                if verbs != {"get"} or names != IDENTITY_NAMES:
                    problems.append(
                        f"{where}: namespaces only as get on {IDENTITY_NAMES}, "
                        f"got {sorted(verbs)} on {names or 'every namespace'}"
                    )
            elif (group, resource) in READABLE:
                extra = verbs - READ_VERBS
                if extra:
                    problems.append(f"{where}: {resource} verbs beyond get/list/watch: {extra}")
            elif resource.partition("/")[0] not in FORBIDDEN_RESOURCES:
                problems.append(f"{where}: grants {group or 'core'}/{resource}, not watched")
    return problems


def rbac_violations(objects: Sequence[Manifest], *, agent_namespace: str) -> list[str]:
    """Every Role/ClusterRole rule and binding, against the least-privilege policy.

    Allowed: get/list/watch on the watched kinds (plus replicasets); get/create/
    update on leases, only in a Role in the agent's own namespace, with get and
    update pinned to a lease name. Bindings may only point at roles defined in
    the same render, so a `cluster-admin` binding cannot slip in.
    """
    problems: list[str] = []
    roles = {
        (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
        for obj in objects
        if obj.get("kind") in ("Role", "ClusterRole")
    }
    for obj in objects:
        kind = obj.get("kind")
        if kind in ("Role", "ClusterRole"):
            if obj.get("aggregationRule"):
                problems.append(f"{name_of(obj)}: aggregates other roles")
            lease_allowed = kind == "Role" and obj["metadata"].get("namespace") == agent_namespace
            for index, rule in enumerate(obj.get("rules") or []):
                problems += _rule_violations(
                    rule, where=f"{name_of(obj)} rule {index}", lease_allowed=lease_allowed
                )
        elif kind in ("RoleBinding", "ClusterRoleBinding"):
            ref = obj.get("roleRef") or {}
            namespace = obj["metadata"].get("namespace") if ref.get("kind") == "Role" else None
            if (ref.get("kind"), namespace, ref.get("name")) not in roles:
                problems.append(
                    f"{name_of(obj)}: binds {ref.get('kind')} {ref.get('name')},"
                    " which this install does not define"
                )
            if kind == "ClusterRoleBinding" and ref.get("kind") != "ClusterRole":
                problems.append(
                    f"{name_of(obj)}: a ClusterRoleBinding must reference a ClusterRole"
                )
    return problems


def rbac_gaps(objects: Sequence[Manifest], *, watched: Sequence[str]) -> list[str]:
    """Each kind the agent watches (`watched`, informer names) that no rule lets it read.

    The verbs come from the kind registry (`KindSpec.verbs`), so a kind added
    there without its rule in deploy/ fails here rather than as 403s in a
    cluster. ReplicaSets come along with pods and deployments, as the
    informers start them.
    """
    names = set(watched)
    if {"pods", "deployments"} <= names:
        names.add("replicasets")
    granted: dict[tuple[str, str], set[str]] = {}
    for obj in objects:
        if obj.get("kind") not in ("Role", "ClusterRole"):
            continue
        for rule in obj.get("rules") or []:
            if rule.get("resourceNames"):
                continue  # pinned to names: no list or watch
            for group in rule.get("apiGroups") or []:
                for resource in rule.get("resources") or []:
                    granted.setdefault((group, resource), set()).update(rule.get("verbs") or [])
    problems = []
    for name in sorted(names):
        spec = KINDS[name]
        key = (spec.resource.group_version.rpartition("/")[0], spec.resource.plural)
        missing = set(spec.verbs) - granted.get(key, set())
        if missing:
            problems.append(f"{key[0] or 'core'}/{key[1]}: no rule grants {sorted(missing)}")
    return problems


# --- Pod Security Standard "restricted" -------------------------------------------------


def _effective(container: Manifest, pod_context: Manifest, field: str) -> Any:
    """A security setting as the kubelet applies it: container first, then pod."""
    own = (container.get("securityContext") or {}).get(field)
    return own if own is not None else pod_context.get(field)


def restricted_profile_violations(pod_spec: Manifest, *, where: str) -> list[str]:
    """The restricted Pod Security Standard (v1.32), plus our read-only root and numeric IDs.

    Evaluated per container (init and ephemeral included) with pod-level
    defaults applied the way the kubelet applies them, so a pod-level setting
    counts for every container that does not override it.
    """
    problems: list[str] = []
    pod_context: Manifest = pod_spec.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(field):
            problems.append(f"{where}: {field} is set")
    if (pod_context.get("windowsOptions") or {}).get("hostProcess"):
        problems.append(f"{where}: windowsOptions.hostProcess is set")
    for sysctl in pod_context.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"{where}: unsafe sysctl {sysctl.get('name')}")
    for volume in pod_spec.get("volumes") or []:
        types = set(volume) - {"name"}
        if not types <= RESTRICTED_VOLUME_TYPES:
            problems.append(
                f"{where}: volume {volume.get('name')} of type {sorted(types)} not allowed"
            )
    if (pod_context.get("seccompProfile") or {}).get("type") == "Unconfined":
        problems.append(f"{where}: pod seccompProfile is Unconfined")
    containers = list(all_containers(pod_spec))
    if not containers:
        problems.append(f"{where}: no containers")
    for label, container in containers:
        at = f"{where} {label}"
        context: Manifest = container.get("securityContext") or {}
        if context.get("privileged"):
            problems.append(f"{at}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{at}: allowPrivilegeEscalation is not false")
        if context.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{at}: readOnlyRootFilesystem is not true")
        if context.get("procMount") not in (None, "Default"):
            problems.append(f"{at}: procMount {context['procMount']}")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{at}: capabilities do not drop ALL")
        added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            problems.append(f"{at}: adds capabilities {sorted(added)}")
        if _effective(container, pod_context, "runAsNonRoot") is not True:
            problems.append(f"{at}: runAsNonRoot is not true")
        for field in ("runAsUser", "runAsGroup"):
            value = _effective(container, pod_context, field)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                problems.append(f"{at}: {field} is {value!r}, not a numeric non-root id")
        seccomp = (_effective(container, pod_context, "seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{at}: seccompProfile is {seccomp!r}")
        apparmor = (_effective(container, pod_context, "appArmorProfile") or {}).get("type")
        if apparmor == "Unconfined":
            problems.append(f"{at}: appArmorProfile is Unconfined")
        selinux = _effective(container, pod_context, "seLinuxOptions") or {}
        if selinux.get("type", "") not in ALLOWED_SELINUX_TYPES or {"user", "role"} & set(selinux):
            problems.append(f"{at}: seLinuxOptions {selinux} not allowed")
        if (_effective(container, pod_context, "windowsOptions") or {}).get("hostProcess"):
            problems.append(f"{at}: windowsOptions.hostProcess is set")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{at}: hostPort {port['hostPort']}")
    return problems


def workload_violations(objects: Sequence[Manifest]) -> list[str]:
    """The restricted profile for every object that runs pods."""
    problems: list[str] = []
    for obj in objects:
        pod_spec = pod_template_spec(obj)
        if pod_spec is not None:
            problems += restricted_profile_violations(pod_spec, where=name_of(obj))
    return problems


# --- probes -----------------------------------------------------------------------------


def _http_probe(container: Manifest, probe: str, *, where: str) -> tuple[Manifest, list[str]]:
    spec: Manifest = container.get(probe) or {}
    if not spec:
        return spec, [f"{where}: no {probe}"]
    get = spec.get("httpGet") or {}
    problems: list[str] = []
    if not get:
        problems.append(f"{where}: {probe} is not an HTTP GET")
    if get.get("port") != "http":
        problems.append(f"{where}: {probe} targets port {get.get('port')!r}, not the named 'http'")
    return spec, problems


def probe_violations(deployment: Manifest) -> list[str]:
    """Liveness on /health, readiness on /ready, a startup probe for a large first sync.

    Liveness must never depend on the API server (/ready does), or an API outage
    would restart every replica; the startup budget covers an initial list of a
    very large cluster before liveness starts counting.
    """
    pod_spec = pod_template_spec(deployment) or {}
    problems: list[str] = []
    containers = pod_spec.get("containers") or []
    if not containers:
        return [f"{name_of(deployment)}: no containers"]
    container = containers[0]
    where = f"{name_of(deployment)} container {container.get('name')}"
    ports = {port.get("name"): port.get("containerPort") for port in container.get("ports") or []}
    if ports.get("http") != HTTP_PORT:
        problems.append(f"{where}: no container port named 'http' on {HTTP_PORT}")
    expected_paths = {
        "livenessProbe": {"/health"},
        "readinessProbe": {"/ready"},
        "startupProbe": {"/health", "/ready"},
    }
    for probe, paths in expected_paths.items():
        spec, found = _http_probe(container, probe, where=where)
        problems += found
        path = (spec.get("httpGet") or {}).get("path")
        if spec and path not in paths:
            problems.append(f"{where}: {probe} on {path!r}, expected one of {sorted(paths)}")
    startup: Manifest = container.get("startupProbe") or {}
    if startup:
        budget = int(startup.get("initialDelaySeconds", 0)) + int(
            startup.get("failureThreshold", 3)
        ) * int(startup.get("periodSeconds", 10))
        if budget < STARTUP_BUDGET_SECONDS:
            problems.append(
                f"{where}: startupProbe allows {budget}s, less than {STARTUP_BUDGET_SECONDS}s"
            )
    grace = pod_spec.get("terminationGracePeriodSeconds", 30)
    if grace < AGENT_SHUTDOWN_SECONDS + 5:
        problems.append(
            f"{where}: terminationGracePeriodSeconds {grace} leaves no margin over the agent's"
            f" {AGENT_SHUTDOWN_SECONDS}s shutdown"
        )
    return problems


# --- labels -----------------------------------------------------------------------------


def _missing_labels(labels: Mapping[str, str] | None) -> list[str]:
    labels = labels or {}
    return [f"{key}={value}" for key, value in REQUIRED_LABELS.items() if labels.get(key) != value]


def label_violations(objects: Sequence[Manifest]) -> list[str]:
    """The three recommended labels on every object and every pod template."""
    problems: list[str] = []
    for obj in objects:
        missing = _missing_labels((obj.get("metadata") or {}).get("labels"))
        if missing:
            problems.append(f"{name_of(obj)}: missing labels {missing}")
        if obj.get("kind") in WORKLOAD_KINDS:
            template = (obj.get("spec") or {}).get("template") or {}
            missing = _missing_labels((template.get("metadata") or {}).get("labels"))
            if missing:
                problems.append(f"{name_of(obj)} pod template: missing labels {missing}")
    return problems


# --- wiring -----------------------------------------------------------------------------


def _selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a label selector (equality form or matchLabels) selects these labels."""
    if not selector or "matchExpressions" in selector:
        return False  # expressions are not used in deploy/: flag rather than half-implement
    match = selector.get("matchLabels", selector)
    return bool(match) and all(labels.get(key) == value for key, value in match.items())


def env_of(container: Manifest) -> dict[str, Manifest]:
    return {entry["name"]: entry for entry in container.get("env") or []}


def agent_deployment(objects: Sequence[Manifest]) -> Manifest:
    deployments = of_kind(objects, "Deployment")
    if len(deployments) != 1:
        raise ValueError(f"expected one Deployment, found {len(deployments)}")
    return deployments[0]


def _under(path: str, directory: str) -> bool:
    return path.startswith(directory.rstrip("/") + "/")


def wiring_violations(objects: Sequence[Manifest]) -> list[str]:
    """Whether the pieces point at each other and at the agent's contract.

    Selectors select the pod; the ServiceAccount exists and is what the bindings
    name; the environment uses only names the agent reads; the DB, the token
    file and /tmp sit on the volumes meant for them; the Lease the agent will
    use is the one the Role lets it update; no Secret (a token) is committed.
    """
    problems: list[str] = []
    deployment = agent_deployment(objects)
    namespace = deployment["metadata"].get("namespace")
    pod_spec = pod_template_spec(deployment) or {}
    pod_labels = ((deployment["spec"].get("template") or {}).get("metadata") or {}).get(
        "labels"
    ) or {}
    where = name_of(deployment)
    if not _selects(deployment["spec"].get("selector"), pod_labels):
        problems.append(f"{where}: selector does not select its own pod template")

    for kind, field in (
        ("Service", "selector"),
        ("PodDisruptionBudget", "selector"),
        ("NetworkPolicy", "podSelector"),
    ):
        found = of_kind(objects, kind)
        if not found:
            problems.append(f"no {kind}")
        for obj in found:
            if not _selects(obj["spec"].get(field), pod_labels):
                problems.append(f"{name_of(obj)}: {field} does not select the agent's pods")
            if obj["metadata"].get("namespace") != namespace:
                problems.append(f"{name_of(obj)}: not in the agent's namespace {namespace}")

    for service in of_kind(objects, "Service"):
        ports = {port.get("name"): port for port in service["spec"].get("ports") or []}
        http = ports.get("http") or {}
        if http.get("port") != HTTP_PORT or http.get("targetPort") not in ("http", HTTP_PORT):
            problems.append(f"{name_of(service)}: no port 'http' {HTTP_PORT} -> http")

    account = pod_spec.get("serviceAccountName")
    if not any(
        sa["metadata"]["name"] == account and sa["metadata"].get("namespace") == namespace
        for sa in of_kind(objects, "ServiceAccount")
    ):
        problems.append(f"{where}: ServiceAccount {account!r} is not part of the install")
    if pod_spec.get("automountServiceAccountToken") is False:
        problems.append(f"{where}: the service account token is not mounted; the agent needs it")
    for binding in of_kind(objects, "RoleBinding") + of_kind(objects, "ClusterRoleBinding"):
        for subject in binding.get("subjects") or []:
            if (subject.get("kind"), subject.get("name"), subject.get("namespace")) != (
                "ServiceAccount",
                account,
                namespace,
            ):
                problems.append(f"{name_of(binding)}: binds {subject}, not the agent's account")

    for secret in of_kind(objects, "Secret"):
        if secret.get("data") or secret.get("stringData"):
            problems.append(f"{name_of(secret)}: a Secret with data is committed")

    volumes = {volume["name"]: volume for volume in pod_spec.get("volumes") or []}
    containers = pod_spec.get("containers") or []
    if not containers:
        return [*problems, f"{where}: no containers"]
    container = containers[0]
    mounts = {mount["mountPath"]: mount for mount in container.get("volumeMounts") or []}
    for mount in mounts.values():
        if mount["name"] not in volumes:
            problems.append(f"{where}: mount {mount['mountPath']} names no volume")
    env = env_of(container)
    unknown = sorted(set(env) - CONTRACT_ENV)
    if unknown:
        problems.append(f"{where}: environment the agent does not read: {unknown}")
    for name, field in (("POD_NAMESPACE", "metadata.namespace"), ("POD_NAME", "metadata.name")):
        ref = ((env.get(name) or {}).get("valueFrom") or {}).get("fieldRef") or {}
        if ref.get("fieldPath") != field:
            problems.append(f"{where}: {name} does not come from the downward API {field}")
    if (env.get("KUBE_WATCHCACHE_HOST") or {}).get("value") != "0.0.0.0":
        problems.append(f"{where}: KUBE_WATCHCACHE_HOST is not 0.0.0.0")

    def volume_at(path: str) -> Manifest | None:
        for mount_path, mount in mounts.items():
            if path == mount_path or _under(path, mount_path):
                return volumes.get(mount["name"])
        return None

    db = (env.get("KUBE_WATCHCACHE_DB") or {}).get("value", "")
    data = volume_at(db) if db else None
    if data is None or not ({"emptyDir", "persistentVolumeClaim"} & set(data)):
        problems.append(f"{where}: KUBE_WATCHCACHE_DB {db!r} is not on an emptyDir or PVC")
    tmp = volumes.get((mounts.get("/tmp") or {}).get("name", ""))
    if tmp is None or "emptyDir" not in tmp:
        problems.append(f"{where}: /tmp is not an emptyDir")
    token_file = (env.get("KUBE_WATCHCACHE_TOKEN_FILE") or {}).get("value", "")
    tokens = volume_at(token_file) if token_file else None
    if tokens is None or "secret" not in tokens:
        problems.append(f"{where}: KUBE_WATCHCACHE_TOKEN_FILE {token_file!r} is not on a Secret")
    elif token_file.rsplit("/", 1)[-1] != "tokens":
        problems.append(f"{where}: the token file is not the Secret key 'tokens'")

    lease = (env.get("KUBE_WATCHCACHE_LEASE_NAME") or {}).get("value", DEFAULT_LEASE_NAME)
    lease_roles = [
        role
        for role in of_kind(objects, "Role")
        if role["metadata"].get("namespace") == namespace
        and any(
            "leases" in (rule.get("resources") or [])
            and lease in (rule.get("resourceNames") or [])
            and "update" in (rule.get("verbs") or [])
            for rule in role.get("rules") or []
        )
    ]
    if not lease_roles:
        problems.append(f"{where}: no Role in {namespace} lets it update Lease {lease!r}")
    return problems


# --- network policy ---------------------------------------------------------------------


def _allowed_ports(rules: Sequence[Manifest]) -> set[tuple[str, Any]]:
    """(protocol, port) pairs a list of ingress/egress rules opens, ignoring peers."""
    opened: set[tuple[str, Any]] = set()
    for rule in rules:
        for port in rule.get("ports") or []:
            opened.add((port.get("protocol", "TCP"), port.get("port")))
    return opened


def network_policy_violations(objects: Sequence[Manifest]) -> list[str]:
    """Ingress to the HTTP port; egress to DNS and the API server; both directions governed."""
    policies = of_kind(objects, "NetworkPolicy")
    if not policies:
        return ["no NetworkPolicy"]
    problems: list[str] = []
    for policy in policies:
        spec = policy.get("spec") or {}
        where = name_of(policy)
        if set(spec.get("policyTypes") or []) != {"Ingress", "Egress"}:
            problems.append(f"{where}: policyTypes must be Ingress and Egress")
        ingress = _allowed_ports(spec.get("ingress") or [])
        if not ({("TCP", HTTP_PORT), ("TCP", "http")} & ingress):
            problems.append(f"{where}: ingress does not open TCP {HTTP_PORT}")
        extra = ingress - {("TCP", HTTP_PORT), ("TCP", "http")}
        if extra:
            problems.append(f"{where}: ingress opens more than the HTTP port: {sorted(extra)}")
        if any(not rule.get("ports") for rule in spec.get("ingress") or []):
            problems.append(f"{where}: an ingress rule opens every port")
        egress = _allowed_ports(spec.get("egress") or [])
        for needed in (("UDP", 53), ("TCP", 53), ("TCP", 443), ("TCP", 6443)):
            if needed not in egress:
                problems.append(f"{where}: egress misses {needed[0]} {needed[1]}")
        if any(not rule.get("ports") for rule in spec.get("egress") or []):
            problems.append(f"{where}: an egress rule opens every port")
    return problems


def comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


# --- Prometheus scrape ----------------------------------------------------------------

#: The job kubernetes-mixin selects the cluster series with (its `kubeStateMetricsSelector`).
MIXIN_JOB = "kube-state-metrics"


def _relabel(labels: dict[str, str], rules: Sequence[Manifest]) -> dict[str, str]:
    """`labels` after a ServiceMonitor's `relabelings` (replace and labelmap-free subset).

    Only what a job relabeling uses is modelled: `replace` (the default action)
    with its `sourceLabels`, `separator`, `regex` (fully anchored) and
    `replacement`; any other action is reported by the caller as unchecked.
    """
    out = dict(labels)
    for rule in rules:
        if rule.get("action", "replace").lower() != "replace":
            continue
        value = str(rule.get("separator", ";")).join(
            out.get(name, "") for name in rule.get("sourceLabels", [])
        )
        match = re.fullmatch(str(rule.get("regex", "(.*)")), value)
        if match is None:
            continue
        target = rule.get("targetLabel")
        if target:
            out[str(target)] = match.expand(
                re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", str(rule.get("replacement", "$1")))
            )
    return out


def scrape_job_violations(objects: Sequence[Manifest], *, job: str = MIXIN_JOB) -> list[str]:
    """Whether each ServiceMonitor endpoint's targets get `job` and keep the series' labels.

    The job label the Prometheus Operator gives a target is the Service's
    name, or the value of the Service label `spec.jobLabel` names, then the
    endpoint's `relabelings` apply. kubernetes-mixin's rules select
    job="kube-state-metrics"; with any other job they evaluate to nothing.
    """
    problems: list[str] = []
    services = of_kind(objects, "Service")
    for monitor in of_kind(objects, "ServiceMonitor"):
        spec = monitor.get("spec") or {}
        selector = spec.get("selector") or {}
        selected = [s for s in services if _selects(selector, s["metadata"].get("labels") or {})]
        if not selected:
            problems.append(f"{name_of(monitor)}: selects no Service")
        for service in selected:
            service_labels = service["metadata"].get("labels") or {}
            base = service["metadata"]["name"]
            job_label = spec.get("jobLabel")
            if job_label and job_label in service_labels:
                base = service_labels[job_label]
            for i, endpoint in enumerate(spec.get("endpoints") or []):
                where = f"{name_of(monitor)}: endpoints[{i}]"
                rules = endpoint.get("relabelings") or []
                unknown = {r["action"] for r in rules if r.get("action", "replace") != "replace"}
                if unknown:
                    problems.append(f"{where}: relabel actions {sorted(unknown)} not checked")
                got = _relabel({"job": base}, rules)["job"]
                if got != job:
                    problems.append(
                        f'{where}: targets get job="{got}"; kubernetes-mixin selects job="{job}"'
                    )
                if endpoint.get("honorLabels") is not True:
                    problems.append(
                        f"{where}: honorLabels is not true: the series' namespace/pod labels "
                        "would become exported_*"
                    )
    return problems
