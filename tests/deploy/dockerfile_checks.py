"""A small Dockerfile parser and the image rules it is checked against.

No Docker engine is available to build the image in CI, so the Dockerfile is
checked statically: it is split into stages and instructions the way the
builder reads it (line continuations joined, comments dropped, global ARG
defaults substituted into FROM), then held to the rules that matter for a
restricted, read-only pod: multi-stage, every base pinned to an exact version,
a numeric non-root USER in the final stage, no HEALTHCHECK (probes do that),
port 8080, and the agent's console script as the entrypoint.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

EXACT_VERSION_TAG = re.compile(r"^v?\d+\.\d+\.\d+([.-][A-Za-z0-9.-]+)?$")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
VARIABLE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class DockerfileError(ValueError):
    """The text is not a Dockerfile this parser understands."""


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    image: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [ins for ins in self.instructions if ins.keyword == keyword]


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Physical lines joined at trailing backslashes; comment and blank lines dropped."""
    result: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        result.append((start, " ".join(part for part in pending if part)))
        pending = []
    if pending:
        raise DockerfileError(f"line {start}: continuation runs past the end of the file")
    return result


def substitute(value: str, variables: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        if name not in variables:
            raise DockerfileError(f"${name} has no default value")
        return variables[name]

    return VARIABLE.sub(replace, value)


def parse_dockerfile(text: str) -> list[Stage]:
    """The build stages in order, with FROM resolved against global ARG defaults."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, line in logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            words = [word for word in args.split() if not word.startswith("--")]
            if not words:
                raise DockerfileError(f"line {number}: FROM without an image")
            image = substitute(words[0], global_args)
            name = None
            if len(words) >= 3 and words[1].upper() == "AS":
                name = words[2]
            stages.append(Stage(image=image, name=name, line=number))
        elif not stages:
            if keyword != "ARG":
                raise DockerfileError(f"line {number}: {keyword} before the first FROM")
            arg_name, _, default = args.partition("=")
            global_args[arg_name.strip()] = default.strip().strip("\"'")
        else:
            stages[-1].instructions.append(Instruction(keyword, args, number))
    if not stages:
        raise DockerfileError("no FROM instruction")
    return stages


def exec_form(instruction: Instruction) -> list[str] | None:
    """The JSON array of an exec-form ENTRYPOINT/CMD, or None for shell form."""
    try:
        value = json.loads(instruction.args)
    except json.JSONDecodeError:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def env_pairs(stage: Stage) -> dict[str, str]:
    """ENV key=value pairs set in a stage (the legacy `ENV key value` form included)."""
    pairs: dict[str, str] = {}
    for ins in stage.all("ENV"):
        words = shlex.split(ins.args)
        if words and "=" not in words[0]:
            pairs[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, _, value = word.partition("=")
            pairs[key] = value
    return pairs


def pin_violation(image: str, *, stage_names: set[str]) -> str | None:
    """Why a FROM image is not pinned to an exact version, or None if it is."""
    if image in stage_names or image == "scratch":
        return None
    if DIGEST.search(image):
        return None
    reference = image.rsplit("/", 1)[-1]
    if ":" not in reference:
        return f"{image}: no tag (means latest)"
    tag = reference.split(":", 1)[1]
    if "latest" in tag:
        return f"{image}: 'latest' tag"
    if not EXACT_VERSION_TAG.match(tag):
        return f"{image}: tag {tag!r} is not an exact x.y.z version"
    return None


def numeric_non_root(user: str) -> bool:
    uid, _, gid = user.partition(":")
    ids = [uid] if not gid else [uid, gid]
    return all(part.isdigit() and int(part) > 0 for part in ids)


def dockerfile_violations(
    text: str,
    *,
    entrypoint: Sequence[str] = ("kube-watchcache",),
    port: int = 8080,
) -> list[str]:
    """Every way the Dockerfile breaks the image rules; empty when it keeps them all."""
    try:
        stages = parse_dockerfile(text)
    except DockerfileError as exc:
        return [str(exc)]
    problems: list[str] = []
    names: set[str] = set()
    for stage in stages:
        problem = pin_violation(stage.image, stage_names=names)
        if problem:
            problems.append(f"line {stage.line}: {problem}")
        if stage.name:
            names.add(stage.name)
        for ins in stage.all("HEALTHCHECK"):
            problems.append(f"line {ins.line}: HEALTHCHECK (the kubelet's probes check health)")
    final = stages[-1]
    if len(stages) < 2:
        problems.append("single stage: build tools would ship in the image")
    elif not any("--from=" in ins.args for ins in final.all("COPY")):
        problems.append("the final stage copies nothing from a build stage")
    users = final.all("USER")
    if not users:
        problems.append("the final stage sets no USER (runs as root)")
    elif not numeric_non_root(users[-1].args):
        problems.append(
            f"line {users[-1].line}: USER {users[-1].args} is not a numeric non-root id"
        )
    exposed = {word.split("/")[0] for ins in final.all("EXPOSE") for word in ins.args.split()}
    if str(port) not in exposed:
        problems.append(f"the final stage does not EXPOSE {port}")
    entrypoints = final.all("ENTRYPOINT")
    if not entrypoints:
        problems.append("no ENTRYPOINT")
    elif exec_form(entrypoints[-1]) != list(entrypoint):
        problems.append(
            f"line {entrypoints[-1].line}: ENTRYPOINT {entrypoints[-1].args} is not"
            f" the exec form {json.dumps(list(entrypoint))}"
        )
    cmds = final.all("CMD")
    if cmds and exec_form(cmds[-1]) is None:
        problems.append(f"line {cmds[-1].line}: CMD is not in exec form")
    if env_pairs(final).get("PYTHONDONTWRITEBYTECODE") != "1":
        problems.append("the final stage does not set PYTHONDONTWRITEBYTECODE=1 (read-only root)")
    return problems


def copy_sources(stages: Sequence[Stage]) -> list[str]:
    """Paths COPY/ADD take from the build context (not from other stages)."""
    sources: list[str] = []
    for stage in stages:
        for ins in stage.all("COPY") + stage.all("ADD"):
            words = shlex.split(ins.args)
            if any(word.startswith("--from=") for word in words):
                continue
            paths = [word for word in words if not word.startswith("--")]
            sources += paths[:-1]
    return sources


def ignored_by(path: str, patterns: Sequence[str]) -> bool:
    """Whether .dockerignore patterns exclude a context path (last match wins, `!` re-includes)."""
    path = path.rstrip("/")
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.strip("/")
        if fnmatch.fnmatch(path, body) or fnmatch.fnmatch(path.split("/")[0], body):
            excluded = not negate
    return excluded


def dockerignore_patterns(text: str) -> list[str]:
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
