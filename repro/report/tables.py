"""Markdown tables for reports."""
from __future__ import annotations


def md_table(rows: list[dict]) -> str:
    """A GitHub markdown table from a list of dicts (pandas' to_markdown needs tabulate)."""
    if not rows:
        return "_none_\n"
    cols = list(dict.fromkeys(k for r in rows for k in r))

    def cell(v):
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
        if isinstance(v, int) and not isinstance(v, bool):
            return f"{v:,}"
        return str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"
