"""Literal env values never reach the store: redacted while an object is normalized.

People put passwords in `env[].value` even though Secrets exist, and whatever
the store holds, the `query` tool, the state file and its backups can show.
So, unless the operator opts in (`--reveal-env-values`), each kind's
`normalize` rewrites the object before it is encoded for the store:

- every literal `env[].value` of `containers`, `initContainers` and
  `ephemeralContainers` (of a pod, and of a Deployment's pod template)
  becomes `"<redacted>"`; the variable's name and any `valueFrom` reference
  (which names a Secret or ConfigMap key without revealing it) stay;
- an annotation that holds a JSON copy of the configuration (kubectl's
  `last-applied-configuration`, and any other JSON-object annotation naming
  an `env` key, such as kapp's original) gets the same treatment inside that
  copy; one that names `env` but is not JSON is replaced whole.

Finding the env lists costs nothing extra for pods: the struct that decodes
a pod's spec for its row takes each container's `env` as `msgspec.Raw` (a
slice of the received bytes), so a pod without env variables is stored
verbatim. Each env list that holds a literal value is decoded, redacted,
re-encoded and spliced into the spec's bytes in place of the original
slice; everything else is copied as it came. (Splicing by value is exact: a
JSON array cannot occur inside a string without its quotes escaped, so the
same bytes elsewhere in the spec can only be an identical env list.) A
configuration annotation of the usual shapes (a pod, or anything with a pod
template) is handled the same way; any other is decoded whole and searched.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import msgspec

from kinds.meta import KubeObject

__all__ = [
    "REDACTED",
    "EnvHolder",
    "redact_annotations",
    "redact_env_lists",
    "redact_pod",
    "redact_workload",
]

REDACTED: Final = "<redacted>"

_REDACTED_RAW = msgspec.Raw(msgspec.json.encode(REDACTED))
_ENV_KEY: Final = b'"env"'
_ESCAPE: Final = b"\\u"

_encode = msgspec.json.Encoder().encode


class _EnvVar(
    msgspec.Struct,
    gc=False,
    omit_defaults=True,
    forbid_unknown_fields=True,
    rename={"value_from": "valueFrom"},
):
    """An EnvVar as the API defines it; each field kept as it came (empty: absent)."""

    name: msgspec.Raw = msgspec.Raw()
    value: msgspec.Raw = msgspec.Raw()
    value_from: msgspec.Raw = msgspec.Raw()


class EnvHolder(msgspec.Struct, gc=False):
    """A container as far as redaction cares: its env list, undecoded."""

    env: msgspec.Raw = msgspec.Raw()


class _PodEnv(msgspec.Struct, gc=False, rename="camel"):
    containers: list[EnvHolder] | None = None
    init_containers: list[EnvHolder] | None = None
    ephemeral_containers: list[EnvHolder] | None = None

    def env_lists(self) -> list[msgspec.Raw]:
        """Every env list present (`null` and `[]` included: each is one `env` key)."""
        return [
            c.env
            for containers in (self.containers, self.init_containers, self.ephemeral_containers)
            for c in containers or ()
            if c.env
        ]


class _TemplateEnv(msgspec.Struct, gc=False):
    spec: _PodEnv | None = None


class _WorkloadEnv(_PodEnv, gc=False):
    """A pod's spec or a workload's (Deployment, StatefulSet, Job, ...) with its pod template."""

    template: _TemplateEnv | None = None

    def env_lists(self) -> list[msgspec.Raw]:
        template = self.template.spec if self.template is not None else None
        return super().env_lists() + (template.env_lists() if template is not None else [])


class _ObjectEnv(msgspec.Struct, gc=False):
    spec: _WorkloadEnv | None = None


# Redacted env lists by their original bytes, bounded (cleared when full) so a
# cluster of unique env lists cannot grow it without limit: at most ~8 MB.
_CACHED_ENVS: Final = 1024
_CACHED_ENV_BYTES: Final = 4096
_redacted_envs: dict[bytes, bytes | None] = {}

_env_vars = msgspec.json.Decoder(list[_EnvVar] | None)
_env_entries = msgspec.json.Decoder(list[dict[str, msgspec.Raw]] | None)
_workload_env = msgspec.json.Decoder(_WorkloadEnv)
_object_env = msgspec.json.Decoder(_ObjectEnv)


def _redacted_env(raw: bytes) -> bytes | None:
    """The env list with literal values redacted, or None when it holds none."""
    try:
        variables = _env_vars.decode(raw)
    except msgspec.ValidationError:
        # A field EnvVar does not have (or not a list at all): the general way,
        # which raises again for what is no list of objects.
        return _redacted_env_entries(raw)
    changed = False
    for variable in variables or ():
        if variable.value:  # present (an empty Raw: absent)
            variable.value = _REDACTED_RAW
            changed = True
    return _encode(variables) if changed else None


def _redacted_env_cached(raw: bytes) -> bytes | None:
    """`_redacted_env`, remembered: a pod's env lists are the same in every status update
    and in every replica of its template, so most events find theirs here."""
    try:
        return _redacted_envs[raw]
    except KeyError:
        pass
    redacted = _redacted_env(raw)
    if len(raw) <= _CACHED_ENV_BYTES:
        if len(_redacted_envs) >= _CACHED_ENVS:
            _redacted_envs.clear()
        _redacted_envs[raw] = redacted
    return redacted


def _redacted_env_entries(raw: bytes) -> bytes | None:
    entries = _env_entries.decode(raw)
    changed = False
    for entry in entries or ():
        if "value" in entry:
            entry["value"] = _REDACTED_RAW
            changed = True
    return _encode(entries) if changed else None


def _splice(data: bytes | msgspec.Raw, env_lists: Iterable[msgspec.Raw]) -> bytes | None:
    """`data` with its `env_lists` (slices of it) redacted, or None when none held a value."""
    spliced: bytes | None = None
    for env in env_lists:
        if not env:
            continue
        original = bytes(env)
        redacted = _redacted_env_cached(original)
        if redacted is not None:
            spliced = (spliced if spliced is not None else bytes(data)).replace(original, redacted)
    return spliced


def redact_env_lists(spec: msgspec.Raw, env_lists: Iterable[msgspec.Raw]) -> msgspec.Raw | None:
    """`spec` with its `env_lists` (slices of it) redacted, or None when none held a value.

    Raises msgspec's DecodeError/ValidationError for an env list that is not a
    list of objects (the reflector then skips the object as unreadable, as
    for any other malformed field).
    """
    spliced = _splice(spec, env_lists)
    return msgspec.Raw(spliced) if spliced is not None else None


def _redact_anywhere(document: Any) -> bool:
    """Redact every literal env value anywhere in a decoded JSON document, in place.

    Iterative, so a deeply nested (hostile) annotation cannot exhaust the stack.
    """
    changed = False
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "env" and isinstance(value, list):
                    for variable in value:
                        if isinstance(variable, dict) and "value" in variable:
                            variable["value"] = REDACTED
                            changed = True
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return changed


def _redacted_by_shape(data: bytes) -> bytes | None:
    """A pod- or workload-shaped copy with its env lists redacted, or None when that
    shape does not account for every `env` key in it (or it holds no literal value)."""
    if _ESCAPE in data:
        return None
    try:
        spec = _object_env.decode(data).spec
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    env_lists = spec.env_lists() if spec is not None else []
    if not env_lists or data.count(_ENV_KEY) != len(env_lists):
        return None
    try:
        return _splice(data, env_lists) or data
    except (msgspec.DecodeError, msgspec.ValidationError):  # an env that is no list of objects
        return None


def _redacted_annotation(value: str) -> str | None:
    """The annotation with the env values inside its JSON redacted, or None if unchanged."""
    data = value.encode()
    by_shape = _redacted_by_shape(data)
    if by_shape is not None:
        return by_shape.decode() if by_shape is not data else None
    try:
        document = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError):  # not JSON, or nested beyond reading
        document = None
    if isinstance(document, dict | list):
        return _encode(document).decode() if _redact_anywhere(document) else None
    # Names an env key but is no JSON document that can be vouched for: all of it goes.
    return REDACTED if '"env"' in value else None


def redact_annotations(annotations: dict[str, str] | None) -> None:
    """Redact, in place, env values in annotations that copy the configuration."""
    if not annotations:
        return
    for key, value in annotations.items():
        if '"env"' in value or "\\u" in value:
            redacted = _redacted_annotation(value)
            if redacted is not None:
                annotations[key] = redacted


def redact_pod(obj: KubeObject, env_lists: Iterable[msgspec.Raw]) -> None:
    """Redact a pod in place: the `env_lists` of its spec (as its decoder took them)
    and its configuration annotations."""
    redact_annotations(obj.metadata.annotations)
    spec = redact_env_lists(obj.spec, env_lists)
    if spec is not None:
        obj.spec = spec


def redact_workload(obj: KubeObject) -> None:
    """Redact a workload's (Deployment, StatefulSet, ...) pod template env values and
    configuration annotations, in place."""
    redact_annotations(obj.metadata.annotations)
    if not obj.spec:
        return
    spec = redact_env_lists(obj.spec, _workload_env.decode(obj.spec).env_lists())
    if spec is not None:
        obj.spec = spec
