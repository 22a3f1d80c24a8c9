"""Write docs/metrics.md, the reference of every family /metrics exports, from the code.

    python -m tests.metrics.reference > docs/metrics.md

The cluster families come from their declarations: kube-state-metrics'
families as each kind module declares them (`KindSpec.metric_families`, via
`mcpserver.ksm.families.KSM`), summary mode's aggregates (`SUMMARY`) and the
mode gauge (`MODE`). The agent's own families are read from a demo agent's
registry (started for a moment on a tiny simulated cluster): their names,
types and help text. tests/metrics/test_reference.py fails when the page
differs from what this prints, as kube-state-metrics' `make doccheck` does.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from pathlib import Path

import anyio

from mcpserver.agent import running_agent
from mcpserver.config import Settings
from mcpserver.ksm.families import KSM, LABELS_FAMILIES, MODE, SUMMARY, Family
from mcpserver.ksm.summary import ALERT_SCOPE_DROPS

COMMAND = "python -m tests.metrics.reference > docs/metrics.md"
# Families of prometheus_client's own collectors: they differ by platform.
_PLATFORM_PREFIXES = ("process_", "python_")
_TINY = {"nodes": 1, "deployments": 1, "pods_per_deployment": 1, "churn": 0.0}

_HEAD = f"""# Metrics reference

Generated from the code by `{COMMAND}`; a test fails when this page and
the code disagree. Every family /metrics exports, and in which mode
(`--metrics-mode`): **objects** (kube-state-metrics' families, one series per
object), **summary** (bounded per-namespace and per-node aggregates), or
**agent** (the agent's own state, in every mode). Above
`--metrics-objects-limit`, `auto` exports the summary's aggregates and keeps
the families kubernetes-mixin's alerts read: every object's, except pods,
whose families cover only the pods that need attention (not Running and
Ready, Succeeded aside, or with a container waiting); it goes back to objects
after 15 minutes at or below 90% of the limit.

The kube-state-metrics families keep kube-state-metrics v2's names, label
names (in its order), types and help text, `[STABLE]` marker included.
`{", ".join(sorted(LABELS_FAMILIES.values()))}` carry one `label_<key>` per
Kubernetes label that `--metric-labels-allowlist` allows, and, as in
kube-state-metrics, have no series for a resource the allow-list does not name
(none by default).
"""


def _row(family: Family, mode: str) -> str:
    labels = ", ".join(f"`{label}`" for label in family.labels) or "—"
    help_text = family.help.replace("|", "\\|")
    return f"| `{family.name}` | {family.type} | {mode} | {labels} | {help_text} |"


def _table(rows: list[str]) -> list[str]:
    return ["| Family | Type | Mode | Labels | Help |", "| --- | --- | --- | --- | --- |", *rows]


async def _agent_families() -> list[tuple[str, str, str]]:
    """(name, type, help) of every family a running agent's own registry exports."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(demo=True, port=0, db=Path(tmp) / "state.db", log_level="warning")
        settings = dataclasses.replace(settings, metrics_mode="summary")
        async with running_agent(settings, demo_shape=_TINY) as agent:
            out = {
                (m.name, m.type, m.documentation)
                for m in agent.metrics.registry.collect()
                if not m.name.startswith(_PLATFORM_PREFIXES)
            }
    return sorted(out)


def _ksm_mode(family: Family) -> str:
    """Objects mode always; `auto` above the object limit keeps the alert families."""
    if family.name in ALERT_SCOPE_DROPS:
        return "objects"
    if family.name.startswith(("kube_pod_", "kube_replicaset_")):  # the latter from pods
        return "objects; auto above the limit: problem pods only"
    return "objects; auto above the limit"


def render(agent_families: list[tuple[str, str, str]]) -> str:
    lines = [_HEAD, "## Cluster families", ""]
    rows = [_row(MODE, "objects, summary")]
    rows += [_row(f, _ksm_mode(f)) for f in sorted(KSM.values(), key=lambda f: f.name)]
    rows += [_row(f, "summary") for f in sorted(SUMMARY.values(), key=lambda f: f.name)]
    lines += _table(rows)
    lines += ["", "## The agent's own families", ""]
    lines += ["| Family | Type | Mode | Help |", "| --- | --- | --- | --- |"]
    for name, type_, help_text in agent_families:
        lines.append(f"| `{name}` | {type_} | agent | {help_text.replace('|', chr(92) + '|')} |")
    lines += [
        "",
        "Also prometheus_client's `process_*` families where the platform has them (Linux).",
        "",
    ]
    return "\n".join(lines)


def generate() -> str:
    return render(anyio.run(_agent_families))


if __name__ == "__main__":
    sys.stdout.write(generate())
