"""A benchmark's results as a Markdown table: what each benchmark prints."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["print_table"]


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, numbers: bool) -> None:
    """Columns as wide as their widest cell; `numbers` right-aligns cells (figures line up)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        cells = (c.rjust(w) if numbers else c.ljust(w) for c, w in zip(r, widths, strict=True))
        print("| " + " | ".join(cells) + " |")
