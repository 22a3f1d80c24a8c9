"""Regenerate the reference tables in tests/metrics/data/ from the upstream repositories.

    python -m tests.metrics.reference_data KSM_CHECKOUT MIXIN_CHECKOUT

KSM_CHECKOUT is a checkout (or a bare git directory) of
kubernetes/kube-state-metrics, MIXIN_CHECKOUT one of
kubernetes-monitoring/kubernetes-mixin. Writes:

- `ksm_families.json`: every family of kube-state-metrics' documentation
  tables for the kinds the agent watches (name, type, labels in the table's
  order, unit, stability), parsed from docs/metrics/*/<kind>-metrics.md.
- `mixin_selectors.json`: every `kube_*` metric of those kinds that the
  mixin's alerts and recording rules select, with the labels they match on,
  group by or join on (`{...}` matchers, `by (...)`, `on (...)`,
  `ignoring (...)`, `group_left (...)`), from alerts/*.libsonnet and
  rules/*.libsonnet. Template placeholders (`%(clusterLabel)s`, selectors
  such as `%(kubeStateMetricsSelector)s`) are resolved to the mixin's
  default config: `cluster` and `job`, which the scrape adds, are left out.

Each file notes its source (repository, paths, commit) at the top.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"

KSM_DOCS = {
    "pod": "docs/metrics/workload/pod-metrics.md",
    "deployment": "docs/metrics/workload/deployment-metrics.md",
    "statefulset": "docs/metrics/workload/statefulset-metrics.md",
    "node": "docs/metrics/cluster/node-metrics.md",
    "replicaset": "docs/metrics/workload/replicaset-metrics.md",
}
# The prefixes of the families of the kinds /metrics exports.
PREFIXES = ("kube_pod_", "kube_deployment_", "kube_statefulset_", "kube_node_", "kube_replicaset_")
# Labels the scrape adds (job, instance) or the mixin's multi-cluster setting (cluster).
SCRAPE_LABELS = frozenset({"job", "instance", "cluster", "__name__"})

_STATUS = re.compile(r"\b(STABLE|EXPERIMENTAL|DEPRECATED)\b")
# `name`=<...>; the node table also writes `value=`<...>.
_LABEL = re.compile(r"`([a-zA-Z_][a-zA-Z0-9_]*)(?:`\s*=|=`)")


def _git_show(repo: Path, path: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "show", f"HEAD:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _git_ls(repo: Path, folder: str) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "--name-only", f"HEAD:{folder}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [f"{folder}/{name}" for name in out.split()]


def _commit(repo: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


def _cells(line: str) -> list[str]:
    """A markdown table row's cells, split on the `|` that `\\|` does not escape."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def ksm_table(markdown: str) -> list[dict[str, object]]:
    """The families of one kube-state-metrics documentation table."""
    lines = [line for line in markdown.splitlines() if line.lstrip().startswith("|")]
    header = [c.lower() for c in _cells(lines[0])]
    column = {name: i for i, name in enumerate(header)}
    labels_at = next(i for i, name in enumerate(header) if name.startswith("labels"))
    unit_at = next((i for i, name in enumerate(header) if name.startswith("unit")), None)
    out: list[dict[str, object]] = []
    for line in lines[2:]:
        cells = _cells(line)
        name = cells[column["metric name"]]
        if not name.startswith("kube_"):
            continue
        status = _STATUS.search(" ".join(cells[labels_at + 1 :]))
        out.append(
            {
                "name": name,
                "type": cells[column["metric type"]].lower(),
                "labels": _LABEL.findall(cells[labels_at]),
                "unit": cells[unit_at] if unit_at is not None else "",
                "stability": status.group(1) if status else "",
            }
        )
    return out


def ksm_families(repo: Path) -> dict[str, object]:
    return {
        "source": {
            "repository": "kubernetes/kube-state-metrics",
            "commit": _commit(repo),
            "paths": sorted(KSM_DOCS.values()),
        },
        "kinds": {kind: ksm_table(_git_show(repo, path)) for kind, path in KSM_DOCS.items()},
    }


# --- kubernetes-mixin -------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
# A metric name, not part of a recording rule's name (`namespace_cpu:kube_pod_...:sum`).
_METRIC = re.compile(
    r"(?<![:\w])(kube_(?:pod|deployment|statefulset|node|replicaset)_[a-z_]+)(?![:\w])"
)
_GROUPING = re.compile(r"\b(by|on|ignoring|group_left|group_right|without)\s*\(([^()]*)\)")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"")


def _resolve(text: str) -> str:
    """Drop the mixin's template placeholders: selectors become nothing, label names `cluster`."""
    text = text.replace("%(clusterLabel)s", "cluster")
    return _PLACEHOLDER.sub("", text)


def _expressions(text: str) -> list[str]:
    """Every PromQL text of a libsonnet file: its `|||` blocks and its `expr:` strings.

    Not only `expr:` blocks: some alerts build their expression in a local
    function (the overcommit alerts), whose `|||` block is elsewhere.
    """
    blocks = re.findall(r"\|\|\|(.*?)\|\|\|", text, re.S)
    strings = re.findall(r"expr:\s*(?:'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\")", text)
    return [_resolve(b) for b in blocks] + [_resolve(a or b) for a, b in strings]


def _selector_labels(expr: str, end: int) -> set[str]:
    """The label names matched by the `{...}` right after a metric name ending at `end`."""
    rest = expr[end:]
    if not rest.startswith("{"):
        return set()
    return set(_MATCHER.findall(rest[1 : rest.find("}")]))


def mixin_selectors(repo: Path, documented: dict[str, set[str]]) -> dict[str, object]:
    """Per `kube_*` metric the mixin uses: the labels it matches, groups by or joins on.

    A grouping (`by`, `on`, ...) of an expression with several metrics names
    labels of either operand, and `label_replace` adds labels of its own
    (`workload`, ...): a label is kept for a metric when kube-state-metrics
    documents it on that metric (`documented`) — those are the ones a
    complete exporter must carry for the rule to work.
    """
    paths = [
        p
        for folder in ("alerts", "rules")
        for p in _git_ls(repo, folder)
        if p.endswith(".libsonnet")
    ]
    uses: dict[str, tuple[set[str], set[str]]] = {}
    for path in sorted(paths):
        for expr in _expressions(_git_show(repo, path)):
            grouped = {
                n.strip()
                for _op, names in _GROUPING.findall(expr)
                for n in names.split(",")
                if n.strip()
            }
            for m in _METRIC.finditer(expr):
                name = m.group(1)
                labels, files = uses.setdefault(name, (set(), set()))
                wanted = _selector_labels(expr, m.end()) | grouped
                labels.update(wanted & documented.get(name, set()))
                files.add(path)
    return {
        "source": {
            "repository": "kubernetes-monitoring/kubernetes-mixin",
            "commit": _commit(repo),
            "paths": sorted(paths),
        },
        "metrics": {
            name: {"labels": sorted(labels), "files": sorted(files)}
            for name, (labels, files) in sorted(uses.items())
        },
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    ksm, mixin = Path(argv[0]), Path(argv[1])
    DATA.mkdir(exist_ok=True)
    families = ksm_families(ksm)
    documented = {
        f["name"]: set(f["labels"])  # type: ignore[call-overload]
        for table in families["kinds"].values()  # type: ignore[attr-defined]
        for f in table
    }
    for name, data in (
        ("ksm_families.json", families),
        ("mixin_selectors.json", mixin_selectors(mixin, documented)),
    ):
        (DATA / name).write_text(json.dumps(data, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
