"""A report as a self-contained HTML page (inline CSS and SVG, no external assets) and as a PDF
(reportlab, pure Python: tables and the same bar charts)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from console.reports.build import ReportData

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.5em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#eee}td.n{text-align:right}svg text{font-size:12px;font-family:sans-serif}
"""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    minutes = seconds / 60
    return f"{minutes:.1f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def title(data: ReportData) -> str:
    """``Daily report 2026-11-27`` or ``Weekly report 2026-11-23 - 2026-11-29``, in local days."""
    return subject(data.kind, data.start, data.end, data.tz)


def subject(kind: str, start: datetime, end: datetime, tz_name: str) -> str:
    """The title of the ``kind`` report of ``[start, end)`` (also the mail's subject)."""
    tz = ZoneInfo(tz_name)
    first = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    if kind == "daily":
        return f"Daily report {first.isoformat()}"
    return f"Weekly report {first.isoformat()} - {(last - timedelta(days=1)).isoformat()}"


def svg_bars(rows: Sequence[tuple[str, int]], width: int = 520) -> str:
    """A horizontal bar chart as inline SVG."""
    if not rows:
        return "<p>No incidents.</p>"
    top = max(n for _, n in rows) or 1
    bar_h, label_w = 20, 160
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{bar_h * len(rows) + 4}" role="img">']
    for i, (label, n) in enumerate(rows):
        y = i * bar_h + 2
        w = max(1, int((width - label_w - 50) * n / top))
        parts.append(f'<text x="0" y="{y + 14}">{escape(label[:24])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h - 4}" fill="#3b6ea5"/>')
        parts.append(f'<text x="{label_w + w + 4}" y="{y + 14}">{n}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i in numeric else ''}>{escape(str(c))}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _response_rows(data: ReportData) -> list[list[object]]:
    return [
        [
            r.priority,
            r.alerts,
            r.ack_count,
            _duration(r.ack_median_s),
            _duration(r.ack_p90_s),
            r.resolve_count,
            _duration(r.resolve_median_s),
            _duration(r.resolve_p90_s),
        ]
        for r in data.response_times
    ]


_RESPONSE_HEADER = ["Priority", "Alerts", "Acked", "Ack median", "Ack p90", "Resolved", "Resolve median", "Resolve p90"]


def _notable_rows(data: ReportData) -> list[list[object]]:
    tz = ZoneInfo(data.tz)
    return [
        [
            a.priority,
            a.first_seen.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            a.type,
            a.district,
            a.source,
            a.status,
            a.title,
        ]
        for a in data.notable_alerts
    ]


def html(data: ReportData) -> str:
    """The report as one self-contained HTML page."""
    name = escape(title(data))
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{name}</title>'
        f"<style>{_CSS}</style></head><body><h1>{name}</h1>"
        f"<p>Period {escape(data.start.isoformat())} to {escape(data.end.isoformat())} ({escape(data.tz)}). "
        f"<strong>{data.total_incidents}</strong> incidents raised.</p>"
        f"<h2>Incidents by district</h2>{svg_bars(data.totals(0))}"
        f"<h2>Incidents by type</h2>{svg_bars(data.totals(1))}"
        "<h2>Incidents by district and type</h2>"
        + _table(["District", "Type", "Incidents"], [[d or "(none)", t, n] for d, t, n in data.by_district_type], {2})
        + "<h2>Response times</h2>"
        + _table(_RESPONSE_HEADER, _response_rows(data), {0, 1, 2, 5})
        + "<h2>Top issues</h2>"
        + _table(
            ["Type", "Source", "District", "Incidents", "Example"],
            [[t.type, t.source, t.district or "(none)", t.count, t.title] for t in data.top_issues],
            {3},
        )
        + "<h2>Notable alerts (priority 1-2)</h2>"
        + _table(["Priority", "First seen", "Type", "District", "Source", "Status", "Title"], _notable_rows(data), {0})
        + "</body></html>"
    )


def _pdf_bars(rows: Sequence[tuple[str, int]]) -> Drawing:
    shown = list(rows[:15])
    height = 20 * len(shown) + 30
    drawing = Drawing(460, height)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 130, 15, 300, height - 25
    chart.data = [[n for _, n in reversed(shown)]]
    chart.categoryAxis.categoryNames = [label[:24] for label, _ in reversed(shown)]
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = colors.HexColor("#3b6ea5")
    drawing.add(chart)
    return drawing


def _pdf_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    table = Table([list(header), *[[str(c) for c in row] for row in rows]], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                ("FONTSIZE", (0, 0), (-1, -1), 8),
            ]
        )
    )
    return table


def pdf(data: ReportData) -> bytes:
    """The report as a PDF document."""
    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, title=title(data))
    story: list[object] = [
        Paragraph(escape(title(data)), styles["Title"]),
        Paragraph(
            f"Period {escape(data.start.isoformat())} to {escape(data.end.isoformat())} ({escape(data.tz)}). "
            f"{data.total_incidents} incidents raised.",
            styles["Normal"],
        ),
    ]

    def section(name: str) -> None:
        story.extend([Spacer(1, 10), Paragraph(escape(name), styles["Heading2"])])

    for name, index in (("Incidents by district", 0), ("Incidents by type", 1)):
        section(name)
        totals = data.totals(index)
        story.append(_pdf_bars(totals) if totals else Paragraph("No incidents.", styles["Normal"]))
    section("Incidents by district and type")
    story.append(
        _pdf_table(["District", "Type", "Incidents"], [[d or "(none)", t, n] for d, t, n in data.by_district_type])
    )
    section("Response times")
    story.append(_pdf_table(_RESPONSE_HEADER, _response_rows(data)))
    section("Top issues")
    story.append(
        _pdf_table(
            ["Type", "Source", "District", "Incidents"],
            [[t.type, t.source, t.district or "(none)", t.count] for t in data.top_issues],
        )
    )
    section("Notable alerts (priority 1-2)")
    story.append(
        _pdf_table(["Priority", "First seen", "Type", "District", "Source", "Status", "Title"], _notable_rows(data))
    )
    doc.build(story)  # type: ignore[arg-type]
    return buffer.getvalue()
