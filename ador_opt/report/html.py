"""One self-contained HTML page: plotly.js is inlined once, so the file opens offline."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 24px auto;
       max-width: 1180px; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom:
  1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; font-size: 0.88em; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f2f2f2; } tr.baseline td { color: #2d6a3e; }
.scroll { overflow-x: auto; } td { white-space: nowrap; }
#metric-table td:nth-child(2) { text-align: left; }
.warn { background: #fff3cd; border: 1px solid #e0c36a; padding: 10px 14px; margin: 12px 0; }
.meta td { text-align: left; border: none; padding: 2px 10px 2px 0; }
.small { font-size: 0.85em; color: #555; } figure { margin: 0; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
@media (max-width: 900px) { .grid { grid-template-columns: 1fr; } }
"""


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    body_html: str


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def table_html(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    table_id: str = "",
    row_classes: Sequence[str] = (),
) -> str:
    ident = f' id="{esc(table_id)}"' if table_id else ""
    out = [
        f'<div class="scroll"><table{ident}><thead><tr>'
        + "".join(f"<th>{esc(h)}</th>" for h in header)
        + "</tr></thead><tbody>"
    ]
    for k, row in enumerate(rows):
        cls = f' class="{esc(row_classes[k])}"' if k < len(row_classes) and row_classes[k] else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def meta_html(items: Mapping[str, str]) -> str:
    rows = "".join(f"<tr><td><b>{esc(k)}</b></td><td>{esc(v)}</td></tr>" for k, v in items.items())
    return f'<table class="meta">{rows}</table>'


def figure_html(fig: go.Figure, div_id: str) -> str:
    return str(
        fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=div_id,
            config={"displaylogo": False, "responsive": True},
        )
    )


def page(title: str, sections: Sequence[Section]) -> str:
    body = "".join((f"<h2>{esc(s.title)}</h2>" if s.title else "") + s.body_html for s in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head>'
        f"<body><h1>{esc(title)}</h1>{body}</body></html>\n"
    )
