"""A seeded, bounded fuzzer for /mcp: hostile requests over every tool, resource and prompt.

Shared by tests/mcpserver/test_fuzz.py (a few thousand requests, in `make
test`) and benchmarks/reliability_bench.py (a longer run with its figures).
`generate()` turns a seed into requests: first a sweep (every odd text in
every argument of every tool and prompt, one at a time), then random ones;
the same seed gives the same requests, so a failure names a seed and an
index that reproduce it.

What is sent, in both protocol generations (2026-07-28 stateless POSTs with
`_meta`, and 2025-11-25 POSTs on a session opened by `open_legacy_session`):
tool calls with wrong types, huge and odd strings (lone surrogates, NULs,
bidi marks, 100 kB), huge and non-finite numbers, unknown arguments and SQL
that would write; resource reads of odd URIs; prompts with missing, extra and
mistyped arguments; and raw JSON-RPC: malformed JSON, wrong field types,
batches, unknown methods, mismatched or odd headers. Left out: anything that
opens a stream that stays open (a valid `subscriptions/listen`, a GET on the
real session) and DELETE of the real session.

`run()` sends them and judges every response: a 5xx, a traceback in the
text, or a `query` that would write and was not refused is a failure.
Tracebacks in the agent's log are the caller's to collect (in-process: a
log handler; a process: its log file).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import itertools
import json
import random
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx

__all__ = [
    "KNOWN_OPEN",
    "Catalog",
    "FuzzReport",
    "FuzzRequest",
    "fetch_catalog",
    "generate",
    "open_legacy_session",
    "run",
]

MODERN = "2026-07-28"
LEGACY = "2025-11-25"

KNOWN_OPEN: dict[str, str] = {}
"""Input families (a request's family, or a trait of its arguments) left out of generation
because they still fail, each with the failure seen.

Empty: every family is generated. An entry is a known failure being fixed, named with what
was seen; remove it with the fix, and the test must stay green.
"""

_ACCEPT = "application/json, text/event-stream"
_HUGE_INT_DIGITS = 5000  # beyond Python's int<->str limit (4300 digits)

NASTY_TEXT = [
    "",
    " ",
    "x" * 100_000,
    "\ud800",
    "a\udfffb",
    "é🙂\u202e\u0000\ud7ff",
    "default' OR '1'='1",
    "'; DROP TABLE pods; --",
    "app in (a,b),tier notin (x),!legacy,env=prod,,",
    "app=" + "a" * 10_000,
    "((((((",
    "../../etc/passwd",
    "%00%ff",
    "999999999d",
    "-5m",
    "1e309",
    "NaN",
    "o" + "9" * 5000,
    "o-1",
    "k8s://pods/../../",
]
WRITE_SQL = [
    "DELETE FROM pods",
    "DROP TABLE pods",
    "SELECT 1; DELETE FROM pods",
    "UPDATE pods SET phase='x'",
    "INSERT INTO pods(name) VALUES ('x')",
    "ATTACH DATABASE '/tmp/kwc-fuzz-evil.db' AS evil",
    "PRAGMA writable_schema=1",
    "VACUUM INTO '/tmp/kwc-fuzz-copy.db'",
    "SELECT 1 -- \n; DELETE FROM pods",
    "REPLACE INTO sync_state VALUES ('x')",
    "CREATE TABLE evil(x)",
]
READ_SQL = [
    "SELECT count(*) FROM pods",
    "SELECT name, namespace FROM pods LIMIT 5",
    "SELECT * FROM sqlite_master",
    "SELECT json_extract(obj, '$.metadata') FROM pods LIMIT 2",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c",
    "SELECT load_extension('/tmp/x.so')",
    "select\u0000 1",
    "SELECT",
    "",
]
UNKNOWN_METHODS = [
    "tools/delete",
    "resources/write",
    "admin/shutdown",
    "sampling/createMessage",
    "$/cancelRequest",
    "",
    "x" * 5000,
    "\ud800",
]
LIST_METHODS = ["tools/list", "resources/list", "resources/templates/list", "prompts/list", "ping"]


@dataclasses.dataclass(frozen=True)
class Catalog:
    """What the agent serves, and a few real object names so calls reach past the lookups."""

    tools: dict[str, list[str]]  # tool -> argument names
    prompts: dict[str, list[str]]  # prompt -> argument names
    templates: list[str]  # resource URI templates
    names: list[str]  # real namespaces, pods, deployments, nodes


@dataclasses.dataclass(frozen=True)
class FuzzRequest:
    index: int
    family: str  # "tool:<name>", "resource", "prompt", "list", "raw:<kind>", "header:<kind>"
    generation: str  # MODERN, LEGACY, or "" (no protocol headers)
    method: str
    headers: dict[str, str]
    body: bytes
    writes: bool = False  # a `query` whose SQL would write: must be refused
    traits: frozenset[str] = frozenset()  # what is odd about its arguments (see `_traits`)


@dataclasses.dataclass
class FuzzReport:
    requests: int = 0
    seconds: float = 0.0
    statuses: collections.Counter[int] = dataclasses.field(default_factory=collections.Counter)
    server_errors: list[str] = dataclasses.field(default_factory=list)  # HTTP 5xx
    tracebacks: list[str] = dataclasses.field(default_factory=list)  # in a response
    writes_allowed: list[str] = dataclasses.field(default_factory=list)
    hung: list[str] = dataclasses.field(default_factory=list)  # no answer within the timeout
    dropped: list[str] = dataclasses.field(default_factory=list)  # connection broken, no answer
    # JSON-RPC -32603 or "Error executing tool", by family: figures, not failures (a handler
    # that crashes also logs a traceback, which is one)
    internal_errors: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )

    @property
    def failures(self) -> list[str]:
        return self.server_errors + self.tracebacks + self.writes_allowed + self.hung + self.dropped

    def summary(self) -> str:
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        return (
            f"{self.requests} requests in {self.seconds:.1f} s ({codes}); "
            f"5xx {len(self.server_errors)}, tracebacks in responses {len(self.tracebacks)}, "
            f"writes allowed {len(self.writes_allowed)}, hung {len(self.hung)}, "
            f"dropped {len(self.dropped)}, "
            f"internal errors {sum(self.internal_errors.values())}"
        )


def _meta() -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "fuzz", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }


class _Generator:
    def __init__(self, seed: int, catalog: Catalog, session_id: str | None) -> None:
        self.rng = random.Random(seed)
        self.catalog = catalog
        self.session_id = session_id
        self._ids = 10_000_000

    def next_id(self) -> int:
        """A request id no other request uses: a client keeps ids unique within a session."""
        self._ids += 1
        return self._ids

    # -- values ---------------------------------------------------------------

    def value(self, depth: int = 0) -> Any:
        r = self.rng
        pick = r.randrange(12 if depth < 2 else 9)
        if pick == 0:
            return r.choice([None, True, False])
        if pick == 1:
            return r.choice([0, -1, 1, 1001, 10**9, 2**63, 2**64 + 1, -(10**30)])
        if pick == 2:
            return r.choice([0.5, -0.0, 1e308, 1e-320, float("nan"), float("inf")])
        if pick in (3, 4):
            return r.choice(NASTY_TEXT)
        if pick in (5, 6):
            return r.choice(self.catalog.names) if self.catalog.names else "default"
        if pick == 7:
            return "".join(chr(r.randrange(0x20, 0x2FFF)) for _ in range(r.randrange(1, 20)))
        if pick == 8:
            return r.choice(WRITE_SQL + READ_SQL)
        if pick == 9:
            return [self.value(depth + 1) for _ in range(r.randrange(3))]
        if pick == 10:
            return {self.rng.choice(["a", "", "\ud800"]): self.value(depth + 1)}
        return _HugeInt()

    def arguments(self, names: list[str]) -> dict[str, Any]:
        r = self.rng
        chosen = r.sample(names, k=r.randrange(len(names) + 1)) if names else []
        args = {name: self.value() for name in chosen}
        if r.random() < 0.15:
            args[r.choice(["bogus", "", "\ud800", "__proto__"])] = self.value()
        return args

    # -- requests -------------------------------------------------------------

    def envelope(self, method: str, params: Any, *, generation: str) -> dict[str, Any]:
        if generation == MODERN:
            if not isinstance(params, dict):
                params = {}
            params = {**params, "_meta": _meta()}
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id()}
        body["method"] = method
        if params is not None:
            body["params"] = params
        return body

    def headers(self, generation: str, method: str, name: str | None = None) -> dict[str, str]:
        headers = {"Accept": _ACCEPT, "Content-Type": "application/json"}
        if generation == MODERN:
            headers |= {"Mcp-Protocol-Version": MODERN, "Mcp-Method": method}
            if name is not None and _header_safe(name):
                headers["Mcp-Name"] = name
        elif generation == LEGACY and self.session_id is not None:
            headers |= {"Mcp-Protocol-Version": LEGACY, "Mcp-Session-Id": self.session_id}
        return headers

    def sweep(self) -> Iterator[Callable[[int], FuzzRequest]]:
        """Every odd text in every argument of every tool and prompt, one at a time.

        Random draws alone reach a given (argument, value) pair only now and
        then; the sweep makes sure each is sent at least once. The other
        arguments of a call are real names, so the odd one is what is tested.
        """
        for tool, names in sorted(self.catalog.tools.items()):
            for name in names:
                for text in NASTY_TEXT:
                    yield functools.partial(self.swept_tool, tool, name, text)
        for prompt, names in sorted(self.catalog.prompts.items()):
            for name in names:
                for text in NASTY_TEXT:
                    yield functools.partial(self.swept_prompt, prompt, name, text)

    def real_name(self) -> str:
        return self.rng.choice(self.catalog.names or ["default"])

    def swept_tool(self, tool: str, name: str, text: str, index: int) -> FuzzRequest:
        args = {other: self.real_name() for other in self.catalog.tools[tool] if other != name}
        args = {k: v for k, v in args.items() if k in ("name", "namespace", "node")}
        args[name] = text
        generation = MODERN if index % 2 else LEGACY
        params = {"name": tool, "arguments": args}
        return self.request(
            index,
            f"tool:{tool}",
            self.generation(generation),
            "tools/call",
            params,
            tool,
            traits=_traits(args),
        )

    def swept_prompt(self, prompt: str, name: str, text: str, index: int) -> FuzzRequest:
        args = {other: self.real_name() for other in self.catalog.prompts[prompt]}
        args[name] = text
        generation = MODERN if index % 2 else LEGACY
        return self.request(
            index,
            "prompt",
            self.generation(generation),
            "prompts/get",
            {"name": prompt, "arguments": args},
            prompt,
            traits=_traits(args),
        )

    def generation(self, wanted: str) -> str:
        return wanted if wanted == MODERN or self.session_id is not None else MODERN

    def one(self, index: int) -> FuzzRequest:
        r = self.rng
        generation = MODERN if r.random() < 0.6 or self.session_id is None else LEGACY
        roll = r.random()
        if roll < 0.45:
            tool = r.choice(sorted(self.catalog.tools))
            args = self.arguments(self.catalog.tools[tool])
            writes = False
            if tool == "query" and r.random() < 0.5:
                args["sql"] = r.choice(WRITE_SQL)
                writes = True
            params = {"name": tool, "arguments": args}
            if r.random() < 0.05:
                params["arguments"] = r.choice(["nope", [1], None, 7])
            return self.request(
                index,
                f"tool:{tool}",
                generation,
                "tools/call",
                params,
                tool,
                writes=writes,
                traits=_traits(args),
            )
        if roll < 0.55:
            uri = self.uri()
            return self.request(index, "resource", generation, "resources/read", {"uri": uri}, uri)
        if roll < 0.65:
            prompt = r.choice([*sorted(self.catalog.prompts), "no_such_prompt", "\ud800"])
            params = {
                "name": prompt,
                "arguments": self.arguments(self.catalog.prompts.get(prompt, ["x"])),
            }
            if r.random() < 0.3:
                params["arguments"] = {
                    k: r.choice(self.catalog.names or ["x"]) for k in params["arguments"]
                }
            wanted = self.catalog.prompts.get(prompt)
            arguments = params["arguments"]
            family = "prompt"
            if wanted is None:
                family = "prompt:unknown-name"
            elif set(arguments) != set(wanted) or not all(
                isinstance(v, str) for v in arguments.values()
            ):
                family = "prompt:bad-arguments"
            return self.request(
                index,
                family,
                generation,
                "prompts/get",
                params,
                prompt,
                traits=_traits(arguments),
            )
        if roll < 0.72:
            method = r.choice(LIST_METHODS)
            params = r.choice([None, {}, {"cursor": self.value()}, "junk"])
            return self.request(index, "list", generation, method, params, None)
        if roll < 0.92:
            return self.raw(index, generation)
        return self.odd_headers(index)

    def uri(self) -> str:
        r = self.rng
        if r.random() < 0.3:
            return r.choice(
                [
                    "k8s://health",
                    "k8s://nope",
                    "file:///etc/passwd",
                    "",
                    "k8s://pods/",
                    "k8s://pods/a/b/c/d",
                    "http://169.254.169.254/latest/meta-data",
                    "k8s://" + "x" * 100_000,
                    "k8s://nodes/\ud800",
                ]
            )
        template = r.choice(self.catalog.templates or ["k8s://nodes/{name}"])
        return _PLACEHOLDER.sub(lambda _: self.segment(), template)

    def segment(self) -> str:
        """One path segment of a resource URI: odd, or a real name."""
        if self.rng.random() < 0.5:
            return str(self.value())
        return self.rng.choice(self.catalog.names or ["x"])

    def request(
        self,
        index: int,
        family: str,
        generation: str,
        method: str,
        params: Any,
        name: str | None,
        *,
        writes: bool = False,
        traits: frozenset[str] = frozenset(),
    ) -> FuzzRequest:
        body = _encode(self.envelope(method, params, generation=generation))
        headers = self.headers(generation, method, name)
        return FuzzRequest(index, family, generation, "POST", headers, body, writes, traits)

    def raw(self, index: int, generation: str) -> FuzzRequest:
        r = self.rng
        kind = r.choice(
            ["malformed", "types", "batch", "unknown_method", "notification", "response", "nested"]
        )
        method = "tools/list"
        if kind == "malformed":
            body = r.choice(
                [
                    b"",
                    b"{",
                    b"\xff\xfe garbage",
                    b"null",
                    b"[]",
                    b"42",
                    b'{"jsonrpc": "2.0", "id": %d, "method": "tools/list"' % self.next_id(),
                    b'{"jsonrpc": "2.0", "id": %d, "method": "ping", "params": {"a": NaN}}'
                    % self.next_id(),
                    b'{"jsonrpc":"2.0","id":%d,"method":"ping","method":"tools/list"}'
                    % self.next_id(),
                    (
                        f'{{"jsonrpc":"2.0","id":{self.next_id()},"method":"ping","x":"\ud800"}}'
                    ).encode("utf-8", "surrogatepass"),
                    b'{"jsonrpc":"2.0","id":' + b"9" * _HUGE_INT_DIGITS + b',"method":"ping"}',
                    b'{"jsonrpc":"2.0","id":1e999,"method":"ping"}',
                ]
            )
        else:
            uid = self.next_id()
            if kind == "types":
                message: Any = {
                    "jsonrpc": r.choice(["2.0", "1.0", 2, None]),
                    "id": r.choice([uid, str(uid), None, {"x": uid}, [uid], uid + 0.5]),
                    "method": r.choice(["tools/call", 7, None, ["ping"]]),
                    "params": r.choice(["nope", 1, [], None, {"name": 5}]),
                }
            elif kind == "batch":
                message = [
                    self.envelope("ping", None, generation=generation)
                    for _ in range(r.randrange(0, 4))
                ]
            elif kind == "unknown_method":
                method = r.choice(UNKNOWN_METHODS)
                message = self.envelope(method, {"x": self.value()}, generation=generation)
            elif kind == "notification":
                message = {"jsonrpc": "2.0", "method": r.choice(["notifications/cancelled", "x"])}
                message["params"] = {"requestId": self.value()}
            elif kind == "response":
                message = {"jsonrpc": "2.0", "id": uid, "result": {"x": self.value()}}
            else:
                depth = r.choice([50, 500, 5000])
                message = self.envelope("tools/call", None, generation=generation)
                message["params"] = {"name": "list_pods", "arguments": {"x": _Nested(depth)}}
            body = _encode(message)
        headers = self.headers(generation, method if _header_safe(method) else "tools/list")
        return FuzzRequest(index, f"raw:{kind}", generation, "POST", headers, body)

    def odd_headers(self, index: int) -> FuzzRequest:
        r = self.rng
        kind = r.choice(["version", "method_mismatch", "content_type", "accept", "session", "verb"])
        body = _encode(self.envelope("tools/list", None, generation=MODERN))
        headers = self.headers(MODERN, "tools/list")
        verb = "POST"
        if kind == "version":
            headers["Mcp-Protocol-Version"] = r.choice(["1999-01-01", "", "2026-07-28x", "latest"])
        elif kind == "method_mismatch":
            headers["Mcp-Method"] = r.choice(["tools/call", "subscriptions/listen", "ping", "x"])
        elif kind == "content_type":
            headers["Content-Type"] = r.choice(["text/plain", "application/x-www-form-urlencoded"])
        elif kind == "accept":
            headers["Accept"] = r.choice(["text/html", "*/*", ""])
        elif kind == "session":
            headers = {
                "Accept": _ACCEPT,
                "Content-Type": "application/json",
                "Mcp-Protocol-Version": LEGACY,
                "Mcp-Session-Id": r.choice(["nope", "0" * 32, "-", "x" * 5000]),
            }
        else:
            verb = r.choice(["GET", "DELETE", "PUT", "PATCH"])
            headers["Mcp-Session-Id"] = "not-a-session"
        return FuzzRequest(index, f"header:{kind}", "", verb, headers, body)


class _HugeInt:
    """Stands for a JSON integer of `_HUGE_INT_DIGITS` digits (Python cannot format one)."""


class _Nested:
    """Stands for a list nested `depth` deep."""

    def __init__(self, depth: int) -> None:
        self.depth = depth


_HUGE_MARK = "\x00HUGE-INT\x00"


def _encode(message: Any) -> bytes:
    nested: list[int] = []

    def default(value: Any) -> Any:
        if isinstance(value, _HugeInt):
            return _HUGE_MARK
        if isinstance(value, _Nested):
            nested.append(value.depth)
            return f"\x00NESTED-{len(nested) - 1}\x00"
        raise TypeError(type(value).__name__)

    # ensure_ascii: lone surrogates go out as \\udxxx escapes, which is valid JSON text
    text = json.dumps(message, default=default)
    text = text.replace(json.dumps(_HUGE_MARK), "9" * _HUGE_INT_DIGITS)
    for n, depth in enumerate(nested):
        text = text.replace(json.dumps(f"\x00NESTED-{n}\x00"), "[" * depth + "]" * depth)
    return text.encode()


_PLACEHOLDER = re.compile(r"\{[^}]*\}")
_CRASHED_TOOL = re.compile(r"Error executing tool \S+")
_HUGE_DURATION = re.compile(r"\d{7,}[smhdw]")


def _traits(value: Any) -> frozenset[str]:
    """Odd inputs in `value` (nested) that a handler has been known to crash on."""
    found: set[str] = set()
    if isinstance(value, str):
        if any("\ud800" <= c <= "\udfff" for c in value):
            found.add("arg:lone-surrogate")
        if _HUGE_DURATION.fullmatch(value):
            found.add("arg:huge-duration")
        if len(value) > 4300 and value[1:].isdigit():
            found.add("arg:huge-cursor")
    elif isinstance(value, dict):
        for key, item in value.items():
            found |= _traits(key) | _traits(item)
    elif isinstance(value, list):
        for item in value:
            found |= _traits(item)
    return frozenset(found)


def _header_safe(text: str) -> bool:
    return text.isascii() and text.isprintable() and 0 < len(text) < 200 and text == text.strip()


def generate(
    seed: int, count: int, *, catalog: Catalog, session_id: str | None
) -> Iterator[FuzzRequest]:
    """`count` requests from `seed`: the sweep first, then random ones.

    Requests whose family or traits are in `KNOWN_OPEN` are skipped (and not counted).
    """
    generator = _Generator(seed, catalog, session_id)
    index = 0
    made = 0
    for make in itertools.chain(generator.sweep(), itertools.repeat(generator.one)):
        if made >= count:
            return
        request = make(index)
        index += 1
        if request.family in KNOWN_OPEN or request.traits & KNOWN_OPEN.keys():
            continue
        made += 1
        yield request


# -- talking to the agent ------------------------------------------------------


async def _post(http: httpx.AsyncClient, url: str, message: dict[str, Any]) -> httpx.Response:
    headers = {
        "Accept": _ACCEPT,
        "Content-Type": "application/json",
        "Mcp-Protocol-Version": MODERN,
        "Mcp-Method": message["method"],
    }
    if message["method"] == "tools/call":
        headers["Mcp-Name"] = message["params"]["name"]
    message = {**message, "params": {**message.get("params", {}), "_meta": _meta()}}
    return await http.post(url, json={"jsonrpc": "2.0", "id": 1, **message}, headers=headers)


def _payloads(response: httpx.Response) -> list[Any]:
    """The JSON-RPC messages of a response, JSON or SSE."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        found = []
        for line in response.text.splitlines():
            if line.startswith("data:") and line[5:].strip():
                try:
                    found.append(json.loads(line[5:]))
                except ValueError:
                    found.append(None)
        return found
    try:
        return [response.json()]
    except ValueError:
        return []


async def fetch_catalog(http: httpx.AsyncClient, url: str) -> Catalog:
    """The tools, prompts, templates and some object names, read from the agent."""

    async def result(method: str, params: dict[str, Any] | None = None) -> Any:
        message: dict[str, Any] = {"method": method, "params": params or {}}
        response = await _post(http, url, message)
        response.raise_for_status()
        return _payloads(response)[0]["result"]

    tools = {
        t["name"]: sorted(t.get("inputSchema", {}).get("properties", {}))
        for t in (await result("tools/list"))["tools"]
    }
    prompts = {
        p["name"]: [a["name"] for a in p.get("arguments") or []]
        for p in (await result("prompts/list"))["prompts"]
    }
    templates = [
        t["uriTemplate"] for t in (await result("resources/templates/list"))["resourceTemplates"]
    ]
    names: set[str] = set()
    for tool in ("list_pods", "list_deployments", "list_nodes"):
        answer = await result("tools/call", {"name": tool, "arguments": {}})
        for item in (answer.get("structuredContent") or {}).get("items", [])[:5]:
            names.update(v for k, v in item.items() if k in ("name", "namespace", "node") and v)
    return Catalog(tools=tools, prompts=prompts, templates=templates, names=sorted(names))


async def open_legacy_session(http: httpx.AsyncClient, url: str) -> str:
    """A 2025-11-25 session (initialize, then initialized); returns its id."""
    headers = {"Accept": _ACCEPT, "Content-Type": "application/json"}
    response = await http.post(
        url,
        headers=headers,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": LEGACY,
                "capabilities": {},
                "clientInfo": {"name": "fuzz", "version": "1"},
            },
        },
    )
    response.raise_for_status()
    session = response.headers["mcp-session-id"]
    headers |= {"Mcp-Session-Id": session, "Mcp-Protocol-Version": LEGACY}
    done = await http.post(
        url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"}
    )
    done.raise_for_status()
    return session


def _judge(request: FuzzRequest, response: httpx.Response, report: FuzzReport) -> None:
    where = f"#{request.index} {request.family} ({request.generation or 'no version'})"
    report.statuses[response.status_code] += 1
    text = response.text
    if response.status_code >= 500:
        report.server_errors.append(f"{where}: HTTP {response.status_code} {text[:200]!r}")
    if "Traceback" in text or 'File "' in text:
        report.tracebacks.append(f"{where}: {text[:300]!r}")
    for payload in _payloads(response):
        if not isinstance(payload, dict):
            continue
        error = payload.get("error")
        result = payload.get("result")
        crashed = isinstance(error, dict) and error.get("code") == -32603
        if isinstance(result, dict) and result.get("isError"):
            # The SDK's answer for an exception that was not a ToolError: no reason given.
            texts = [b.get("text", "") for b in result.get("content") or [] if isinstance(b, dict)]
            crashed = crashed or any(_CRASHED_TOOL.fullmatch(t) for t in texts)
        if crashed:
            report.internal_errors[request.family] += 1
        if request.writes and isinstance(result, dict) and not result.get("isError"):
            report.writes_allowed.append(f"{where}: {request.body[:200]!r}")


async def run(
    url: str,
    requests: Iterator[FuzzRequest],
    *,
    http: httpx.AsyncClient,
    concurrency: int = 4,
    answer_within: float = 30.0,
) -> FuzzReport:
    """Send `requests` over `concurrency` connections; judge each answer (see the module doc)."""
    report = FuzzReport()
    started = time.perf_counter()
    lock = anyio.Lock()

    async def worker() -> None:
        while True:
            async with lock:
                request = next(requests, None)
            if request is None:
                return
            report.requests += 1
            try:
                with anyio.fail_after(answer_within):
                    response = await http.request(
                        request.method, url, headers=request.headers, content=request.body
                    )
            except TimeoutError:
                report.hung.append(
                    f"#{request.index} {request.family}: no answer in {answer_within} s"
                )
                continue
            except httpx.TransportError as exc:
                report.dropped.append(f"#{request.index} {request.family}: {exc!r}")
                continue
            _judge(request, response, report)

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    report.seconds = time.perf_counter() - started
    return report
