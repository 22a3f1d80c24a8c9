"""The Dockerfile, checked statically: no Docker engine runs in CI to build it."""

from __future__ import annotations

import tomllib

import pytest

from tests.deploy.conftest import REPO
from tests.deploy.dockerfile_checks import (
    copy_sources,
    dockerfile_violations,
    dockerignore_patterns,
    env_pairs,
    exec_form,
    ignored_by,
    parse_dockerfile,
)

DOCKERFILE = (REPO / "Dockerfile").read_text()
DOCKERIGNORE = (REPO / ".dockerignore").read_text()

GOOD = """\
# syntax=docker/dockerfile:1
ARG BASE=python:3.11.14-slim-bookworm
FROM ${BASE} AS builder
RUN pip wheel . \\
 && echo done
FROM $BASE
COPY --from=builder /opt/venv /opt/venv
ENV PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["kube-watchcache"]
CMD ["serve"]
"""


def test_the_project_dockerfile_keeps_every_rule() -> None:
    assert dockerfile_violations(DOCKERFILE) == []


def test_the_final_stage_runs_the_agent_as_a_non_root_numeric_user() -> None:
    stages = parse_dockerfile(DOCKERFILE)
    assert len(stages) >= 2
    final = stages[-1]
    assert final.all("USER")[-1].args == "65532:65532"
    assert exec_form(final.all("ENTRYPOINT")[-1]) == ["kube-watchcache"]
    assert exec_form(final.all("CMD")[-1]) == ["serve", "--host", "0.0.0.0"]
    assert env_pairs(final)["KUBE_WATCHCACHE_DB"].startswith("/var/lib/kube-watchcache/")
    # Build and run stages share one pinned base: the venv's python is a symlink into it.
    assert {stage.image for stage in stages} == {"python:3.11.14-slim-bookworm"}


def test_entrypoint_is_the_projects_console_script() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    final = parse_dockerfile(DOCKERFILE)[-1]
    entrypoint = exec_form(final.all("ENTRYPOINT")[-1])
    assert entrypoint is not None
    assert entrypoint[0] in scripts


def test_everything_copied_from_the_context_exists_and_is_not_ignored() -> None:
    patterns = dockerignore_patterns(DOCKERIGNORE)
    sources = copy_sources(parse_dockerfile(DOCKERFILE))
    assert "pyproject.toml" in sources
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        assert not ignored_by(source, patterns), f"COPY {source}: excluded by .dockerignore"


@pytest.mark.parametrize(
    "path",
    [
        ".venv",
        ".git",
        "state.db",
        "kube-watchcache.db-wal",
        ".pytest_cache",
        ".hypothesis",
        "tests",
    ],
)
def test_dockerignore_keeps_local_state_out_of_the_context(path: str) -> None:
    assert ignored_by(path, dockerignore_patterns(DOCKERIGNORE))


def test_the_sample_good_dockerfile_passes() -> None:
    assert dockerfile_violations(GOOD) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("python:3.11.14-slim-bookworm", "python:latest", "'latest' tag"),
        ("python:3.11.14-slim-bookworm", "python", "no tag"),
        ("python:3.11.14-slim-bookworm", "python:3.11-slim", "not an exact x.y.z version"),
        ("USER 65532:65532", "USER root", "not a numeric non-root id"),
        ("USER 65532:65532", "USER app", "not a numeric non-root id"),
        ("USER 65532:65532", "USER 0", "not a numeric non-root id"),
        ("USER 65532:65532", "USER 65532:0", "not a numeric non-root id"),
        ("USER 65532:65532\n", "", "sets no USER"),
        ("EXPOSE 8080", "EXPOSE 9090", "does not EXPOSE 8080"),
        ('ENTRYPOINT ["kube-watchcache"]', "ENTRYPOINT kube-watchcache", "not the exec form"),
        ('CMD ["serve"]', "CMD serve", "CMD is not in exec form"),
        ("USER 65532:65532", "USER 65532:65532\nHEALTHCHECK CMD true", "HEALTHCHECK"),
        ("ENV PYTHONDONTWRITEBYTECODE=1\n", "", "PYTHONDONTWRITEBYTECODE"),
        ("COPY --from=builder /opt/venv /opt/venv", "COPY . /app", "copies nothing"),
        ("ARG BASE=python:3.11.14-slim-bookworm\n", "", "has no default value"),
    ],
)
def test_each_breakage_of_the_dockerfile_is_caught(old: str, new: str, expected: str) -> None:
    assert old in GOOD
    problems = dockerfile_violations(GOOD.replace(old, new))
    assert any(expected in problem for problem in problems), problems


def test_a_single_stage_image_is_caught() -> None:
    single = "FROM python:3.11.14-slim-bookworm\nENV PYTHONDONTWRITEBYTECODE=1\nUSER 1000\n"
    problems = dockerfile_violations(single)
    assert any("single stage" in problem for problem in problems)


def test_a_digest_pin_counts_as_pinned() -> None:
    digest = "python:3.11@sha256:" + "ab" * 32
    assert dockerfile_violations(GOOD.replace("python:3.11.14-slim-bookworm", digest)) == []


def test_dockerignore_negation_reincludes() -> None:
    assert not ignored_by("README.md", ["*.md", "!README.md"])
    assert ignored_by("NOTES.md", ["*.md", "!README.md"])
