"""The three PATCH flavours the API server accepts for built-in kinds.

kubectl sends strategic merge patches by default (`kubectl patch`,
`--subresource=status`), controllers often send JSON merge patches, and some
tools send RFC 6902 JSON patches. Strategic merge differs from merge patch
only for lists that carry a merge key (containers by name, conditions by
type...): those are merged item by item instead of replaced, which is what
makes `kubectl patch -p '{"status":{"conditions":[...]}}'` update one
condition without dropping the others. The merge keys below are those of
the upstream Go types for the fields our kinds use.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .errors import BadRequest, Invalid, UnsupportedMediaType

__all__ = [
    "MERGE_KEYS",
    "PATCH_TYPES",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_patch",
    "apply_strategic_merge_patch",
]

# List field name -> the item fields that identify an item (patchMergeKey).
MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "containerStatuses": ("name",),
    "initContainerStatuses": ("name",),
    "ephemeralContainerStatuses": ("name",),
    "conditions": ("type",),
    "ownerReferences": ("uid",),
    "taints": ("key", "effect"),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "env": ("name",),
    "ports": ("containerPort",),
    "addresses": ("type",),
    "imagePullSecrets": ("name",),
    "hostIPs": ("ip",),
    "podIPs": ("ip",),
}
# Lists of scalars whose patch strategy is "merge" (set union) upstream.
_MERGED_SCALAR_LISTS = frozenset({"finalizers"})

_DELETE = object()


def apply_merge_patch(original: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def apply_strategic_merge_patch(original: Any, patch: Any) -> Any:
    """Kubernetes strategic merge: merge patch plus keyed list merging and directives."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = _merge_map(original if isinstance(original, dict) else {}, patch)
    if merged is _DELETE:
        return {}
    return merged


def _merge_map(original: dict[str, Any], patch: dict[str, Any]) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _strip_directives({k: v for k, v in patch.items() if k != "$patch"})
    if directive not in (None, "merge"):
        raise BadRequest(f"unknown patch directive $patch: {directive!r}")
    result = dict(original)
    retain = patch.get("$retainKeys")
    if retain is not None:
        if not isinstance(retain, list):
            raise BadRequest("$retainKeys must be a list of field names")
        result = {k: v for k, v in result.items() if k in retain}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = [item for item in result[field] if item not in value]
            continue
        if value is None:
            result.pop(key, None)
            continue
        current = result.get(key)
        if isinstance(value, dict):
            merged = _merge_map(current if isinstance(current, dict) else {}, value)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and key in MERGE_KEYS:
            result[key] = _merge_keyed_list(
                current if isinstance(current, list) else [], value, MERGE_KEYS[key]
            )
        elif isinstance(value, list) and key in _MERGED_SCALAR_LISTS:
            base = current if isinstance(current, list) else []
            result[key] = base + [item for item in value if item not in base]
        else:
            result[key] = _strip_directives(value)
    return result


def _merge_keyed_list(original: list[Any], patch: list[Any], keys: tuple[str, ...]) -> list[Any]:
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [
            _strip_directives(item)
            for item in patch
            if not (isinstance(item, dict) and item.get("$patch") == "replace")
        ]
    result = [copy.deepcopy(item) for item in original]

    def identity(item: Any) -> tuple[Any, ...] | None:
        if not isinstance(item, dict) or not all(k in item for k in keys[:1]):
            return None
        return tuple(item.get(k) for k in keys)

    for item in patch:
        ident = identity(item)
        if ident is None:
            raise BadRequest(
                f"strategic merge patch list item lacks merge key {keys[0]!r}: {item!r}"
            )
        index = next((i for i, have in enumerate(result) if identity(have) == ident), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
            continue
        if index is None:
            result.append(_strip_directives(item))
        else:
            merged = _merge_map(result[index], item)
            result[index] = merged
    return result


def _strip_directives(value: Any) -> Any:
    """Values set wholesale must not carry `$` directives into the stored object."""
    if isinstance(value, dict):
        merged = _merge_map({}, value)
        return {} if merged is _DELETE else merged
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise BadRequest(f"invalid JSON pointer {path!r}")
    return [_unescape(t) for t in path.split("/")[1:]] if path else []


def _parent(doc: Any, tokens: list[str], op: str) -> tuple[Any, str]:
    node = doc
    for token in tokens[:-1]:
        node = _child(node, token, op)
    return node, tokens[-1]


def _child(node: Any, token: str, op: str) -> Any:
    if isinstance(node, dict):
        if token not in node:
            raise Invalid(f"{op} operation does not apply: doc is missing path: {token!r}")
        return node[token]
    if isinstance(node, list):
        return node[_index(node, token, op, allow_end=False)]
    raise Invalid(f"{op} operation does not apply: {token!r} is inside a scalar")


def _index(node: list[Any], token: str, op: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(node)
    if not token.isdigit():
        raise Invalid(f"{op} operation does not apply: invalid array index {token!r}")
    index = int(token)
    limit = len(node) if allow_end else len(node) - 1
    if index > limit:
        raise Invalid(f"{op} operation does not apply: array index {index} out of bounds")
    return index


def _get(doc: Any, tokens: list[str], op: str) -> Any:
    node = doc
    for token in tokens:
        node = _child(node, token, op)
    return node


def _add(doc: Any, tokens: list[str], value: Any, op: str) -> Any:
    if not tokens:
        return value
    parent, last = _parent(doc, tokens, op)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, op, allow_end=True), value)
    else:
        raise Invalid(f"{op} operation does not apply: parent of {last!r} is a scalar")
    return doc


def _remove(doc: Any, tokens: list[str], op: str) -> Any:
    if not tokens:
        raise Invalid(f"{op} operation does not apply: cannot remove the whole document")
    parent, last = _parent(doc, tokens, op)
    if isinstance(parent, dict):
        if last not in parent:
            raise Invalid(f"{op} operation does not apply: doc is missing key: {last!r}")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, op, allow_end=False))
    raise Invalid(f"{op} operation does not apply: parent of {last!r} is a scalar")


def apply_json_patch(original: Any, patch: Any) -> Any:
    """RFC 6902 operations applied in order to a copy; any failure changes nothing."""
    if not isinstance(patch, list):
        raise BadRequest("a JSON patch must be a list of operations")
    doc = copy.deepcopy(original)
    for operation in patch:
        if not isinstance(operation, dict) or "op" not in operation:
            raise BadRequest(f"invalid JSON patch operation: {operation!r}")
        op = operation["op"]
        tokens = _pointer(operation.get("path"))
        if op in ("add", "replace", "test") and "value" not in operation:
            raise BadRequest(f"JSON patch {op} operation needs a value")
        if op == "add":
            doc = _add(doc, tokens, copy.deepcopy(operation["value"]), op)
        elif op == "remove":
            _remove(doc, tokens, op)
        elif op == "replace":
            _get(doc, tokens, op)  # the target must exist
            if tokens:
                _remove(doc, tokens, op)
            doc = _add(doc, tokens, copy.deepcopy(operation["value"]), op)
        elif op in ("move", "copy"):
            source = _pointer(operation.get("from"))
            value = _get(doc, source, op)
            if op == "move":
                _remove(doc, source, op)
            doc = _add(doc, tokens, copy.deepcopy(value), op)
        elif op == "test":
            if _get(doc, tokens, op) != operation["value"]:
                raise Invalid(f"testing value {operation.get('path')} failed")
        else:
            raise BadRequest(f"unknown JSON patch operation {op!r}")
    return doc


PATCH_TYPES: dict[str, Callable[[Any, Any], Any]] = {
    "application/merge-patch+json": apply_merge_patch,
    "application/strategic-merge-patch+json": apply_strategic_merge_patch,
    "application/json-patch+json": apply_json_patch,
}


def apply_patch(content_type: str, original: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Apply `patch` of the given Content-Type; 415 for types we do not speak."""
    media = content_type.split(";", 1)[0].strip().lower()
    handler = PATCH_TYPES.get(media)
    if handler is None:
        raise UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types "
            f"include: {', '.join(PATCH_TYPES)}"
        )
    result = handler(original, patch)
    if not isinstance(result, dict):
        raise Invalid("the patch turned the object into something that is not an object")
    return result
