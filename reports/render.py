"""The report as people read it: HTML for the phone (charts embedded, prints cleanly) and a PDF for the printer and
e-mail, both in the reader's language. Charts are drawn with matplotlib (a CJK font is used when installed:
``fonts-wqy-microhei``, installed by ./scripts/bootstrap and the Dockerfile)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from core import i18n  # noqa: E402
from core.i18n import _, label  # noqa: E402
from register.service import kind_title  # noqa: E402
from reports.document import SiteReport  # noqa: E402

COLOURS = {"green": "#1a7f37", "yellow": "#bf8700", "red": "#cf222e", "n/a": "#8c959f"}
PRIORITY_COLOURS = {"life_safety": "#cf222e", "outage": "#bc4c00", "degradation": "#bf8700", "maintenance": "#8c959f"}
plt.rcParams.update({"font.sans-serif": ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "DejaVu Sans"],
                     "font.family": "sans-serif", "axes.unicode_minus": False, "pdf.fonttype": 42})


def _value(number: float | None, suffix: str = " %") -> str:
    return "–" if number is None else f"{number:.1f}{suffix}"


def _count(number: float | None) -> str:
    return "0" if number is None else f"{number:.0f}"


def _change(number: float | None) -> str:
    if number is None:
        return "–"
    return f"{'▲' if number > 0 else '▼' if number < 0 else '＝'} {abs(number):.1f}"


def summary_rows(report: SiteReport) -> list[tuple[str, str, str, str, str]]:
    """(KPI, value, target, colour, change since the day before), in the current language."""
    return [(_(line.kpi.title), _value(line.value), f"≥ {line.kpi.target:g} %",
             label(line.colour) if line.colour != "n/a" else "–", _change(line.change)) for line in report.lines]


def trend_figure(report: SiteReport) -> Figure:
    """Each KPI over the last 30 days, against its target (one small chart per KPI, stacked for a phone)."""
    lines = report.lines
    figure, axes = plt.subplots(len(lines), 1, figsize=(6, 1.45 * len(lines)), sharex=True)
    days = [d[5:] for d in report.trend["day"]]
    for axis, line in zip(axes, lines, strict=True):
        values = report.trend.get(line.kpi.key)
        axis.plot(days, values, marker=".", color=COLOURS[line.colour])
        axis.axhline(line.kpi.target, color="#57606a", linestyle="--", linewidth=0.8)
        axis.set_title(_(line.kpi.title), fontsize=9, loc="left")
        axis.set_ylim(0, 105)
        axis.tick_params(labelsize=7)
    axes[-1].set_xticks(range(0, len(days), 5), [days[i] for i in range(0, len(days), 5)])
    figure.suptitle(_("KPIs over the last 30 days (dashed: target)"), fontsize=11)
    figure.tight_layout()
    return figure


def orders_figure(report: SiteReport) -> Figure:
    """The day's orders by category and priority, and how many minutes they took to be acknowledged."""
    figure, (bars, spread) = plt.subplots(2, 1, figsize=(6, 6.5))
    orders = report.orders
    if len(orders):
        what = [label(c) if k == "request" else kind_title(k) for k, c in zip(orders["kind"], orders["category"],
                                                                              strict=True)]
        table = orders.assign(what=what).groupby(["what", "priority"]).size().unstack(fill_value=0)
        left = None
        for priority in [p for p in PRIORITY_COLOURS if p in table.columns]:
            bars.barh(table.index, table[priority], left=left, color=PRIORITY_COLOURS[priority],
                      label=label(priority))
            left = table[priority] if left is None else left + table[priority]
        bars.legend(fontsize=8, loc="lower right")
    else:
        bars.text(0.5, 0.5, _("no orders that day"), ha="center", va="center", transform=bars.transAxes)
    bars.set_title(_("Orders opened by category and priority"), fontsize=10, loc="left")
    minutes = report.acknowledge_minutes()
    if len(minutes):
        spread.hist(minutes, bins=min(20, max(5, len(minutes))), color="#0b3d62")
    else:
        spread.text(0.5, 0.5, _("nothing acknowledged that day"), ha="center", va="center",
                    transform=spread.transAxes)
    spread.set_title(_("Minutes to acknowledge"), fontsize=10, loc="left")
    spread.set_xlabel(_("minutes"))
    figure.tight_layout()
    return figure


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def title_of(report: SiteReport) -> str:
    return _("Daily report: %(site)s, %(day)s", site=report.site, day=report.day.isoformat())


def to_html(report: SiteReport, lang: str) -> str:
    """One page for a phone (and a printer): the traffic lights first, then the charts."""
    with i18n.using(lang):
        rows = "".join(
            f"<tr><th>{html.escape(kpi)}</th><td>{value}</td><td>{target}</td><td><span class='dot' "
            f"style='background:{COLOURS[line.colour]}'></span>{colour}</td><td>{change}</td></tr>"
            for line, (kpi, value, target, colour, change) in zip(report.lines, summary_rows(report), strict=True))
        counts = report.counts
        facts = _("%(opened)s orders opened, %(resolved)s resolved, %(requests)s requests from people; acknowledged "
                  "in %(ack)s min and repaired in %(repair)s min on average.",
                  opened=_count(counts["orders_opened"]), resolved=_count(counts["orders_resolved"]),
                  requests=_count(counts["requests_opened"]),
                  ack=_value(counts["mean_minutes_to_acknowledge"], ""),
                  repair=_value(counts["mean_minutes_to_repair"], ""))
        head = (_("KPI"), _("value"), _("target"), _("status"), _("change since yesterday"))
        title = title_of(report)
        charts = (_png(trend_figure(report)), _png(orders_figure(report)))
        alt = (_("KPIs over the last 30 days (dashed: target)"), _("Orders opened by category and priority"))
    return (
        f"<!doctype html><html lang='{lang.replace('_', '-')}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font:15px/1.45 system-ui,'WenQuanYi Micro Hei','Noto Sans CJK SC',sans-serif;margin:0 auto;"
        "max-width:40rem;padding:.8rem;color:#1f2328}h1{font-size:1.25rem}"
        "table{border-collapse:collapse;width:100%;table-layout:fixed}th:first-child{width:34%}"
        "th,td{padding:.3rem .25rem;border-bottom:1px solid #d0d7de;text-align:left;font-size:.82rem;"
        "overflow-wrap:anywhere}"
        "thead th{background:#f6f8fa}.dot{display:inline-block;width:.7rem;height:.7rem;border-radius:50%;"
        "margin-right:.3rem}img{width:100%;height:auto;margin-top:1rem}"
        "@media print{body{max-width:none}img{page-break-inside:avoid}}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(facts)}</p>"
        f"<table><thead><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr></thead><tbody>{rows}</tbody></table>"
        + "".join(f"<img alt='{html.escape(a)}' src='data:image/png;base64,{c}'>" for a, c in zip(alt, charts,
                                                                                                  strict=True))
        + "</body></html>")


def to_pdf(report: SiteReport, lang: str) -> bytes:
    """A4 pages: the summary table in its colours, the 30-day trends, the day's orders."""
    buffer = io.BytesIO()
    with i18n.using(lang), PdfPages(buffer) as pdf:
        cover, axis = plt.subplots(figsize=(8.27, 11.69))
        axis.axis("off")
        axis.set_title(title_of(report), fontsize=15, loc="left")
        rows = summary_rows(report)
        table = axis.table(cellText=[list(r) for r in rows], loc="upper center", cellLoc="left",
                           colLabels=[_("KPI"), _("value"), _("target"), _("status"), _("change since yesterday")],
                           colWidths=[0.42, 0.13, 0.13, 0.12, 0.2])
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        table.scale(1, 1.6)
        for row, line in enumerate(report.lines, start=1):
            table[row, 3].set_facecolor({"green": "#dafbe1", "yellow": "#fff8c5", "red": "#ffebe9"}.get(
                line.colour, "#f6f8fa"))
        pdf.savefig(cover)
        plt.close(cover)
        for figure in (trend_figure(report), orders_figure(report)):
            pdf.savefig(figure)
            plt.close(figure)
        pdf.infodict()["Title"] = title_of(report)
    return buffer.getvalue()


def write(report: SiteReport, lang: str, directory: Path) -> Path:
    """HTML and PDF under ``directory/<site>/<day>.<lang>.*``; returns the PDF."""
    folder = directory / report.site
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{report.day.isoformat()}.{lang}"
    (folder / f"{stem}.html").write_text(to_html(report, lang), encoding="utf-8")
    pdf = folder / f"{stem}.pdf"
    pdf.write_bytes(to_pdf(report, lang))
    return pdf
