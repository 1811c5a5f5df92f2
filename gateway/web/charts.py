"""Chart.js configurations built from the services' figures; static/charts.js draws them with
the vendored Chart.js. Amounts go to the charts in yuan (display only; the figures stay fen)."""
from __future__ import annotations

from gateway.services.dashboard import Day
from gateway.services.dashboard_fund import FundChart

BLUE, GREEN, RED, ORANGE, GREY = "#0a4f9e", "#0d6b2f", "#a4001d", "#b35900", "#8a94a3"


def _base(kind: str, labels: list[str], datasets: list[dict], **options) -> dict:
    return {"type": kind, "data": {"labels": labels, "datasets": datasets},
            "options": {"animation": False, "responsive": True, "maintainAspectRatio": False, **options}}


def daily_chart(days: list[Day]) -> dict:
    labels = [day.day.strftime("%m-%d") for day in days]
    return _base("bar", labels, [
        {"type": "bar", "label": "Payments succeeded", "data": [d.succeeded for d in days], "backgroundColor": GREEN, "yAxisID": "count", "stack": "n"},
        {"type": "bar", "label": "Payments failed", "data": [d.failed for d in days], "backgroundColor": RED, "yAxisID": "count", "stack": "n"},
        {"type": "line", "label": "Volume (CNY)", "data": [d.volume / 100 for d in days], "borderColor": BLUE, "backgroundColor": BLUE, "yAxisID": "volume"},
    ], scales={"count": {"position": "left", "beginAtZero": True, "stacked": True, "ticks": {"precision": 0}, "title": {"display": True, "text": "payments"}},
               "volume": {"position": "right", "beginAtZero": True, "grid": {"drawOnChartArea": False}, "title": {"display": True, "text": "CNY"}},
               "x": {"stacked": True}})


def reasons_chart(reasons: list[tuple[str, int]], label: str = "Failed payments", color: str = RED) -> dict:
    """Horizontal bars, one per (reason, count): failures in red by default."""
    return _base("bar", [reason.replace("_", " ") for reason, _ in reasons],
                 [{"label": label, "data": [n for _, n in reasons], "backgroundColor": color}],
                 indexAxis="y", scales={"x": {"beginAtZero": True, "ticks": {"precision": 0}}})


def schedule_chart(installments: list[dict]) -> dict:
    labels = [f"#{row['number']} {row['due_date']:%Y-%m}" for row in installments]
    paid_color = [GREEN if row["status"] == "paid" else (RED if row["late"] else GREY) for row in installments]
    return _base("bar", labels, [
        {"label": "Principal (CNY)", "data": [row["principal"] / 100 for row in installments], "backgroundColor": paid_color, "stack": "due"},
        {"label": "Interest (CNY)", "data": [row["interest"] / 100 for row in installments], "backgroundColor": BLUE, "stack": "due"},
        {"label": "Late fees (CNY)", "data": [row["late_fee"] / 100 for row in installments], "backgroundColor": ORANGE, "stack": "due"},
    ], scales={"x": {"stacked": True}, "y": {"stacked": True, "beginAtZero": True}},
        plugins={"subtitle": {"display": True, "text": "Principal bars: green paid, red late, grey not yet due"}})


def telemetry_chart(days: list[dict]) -> dict:
    labels = [day["day"].strftime("%m-%d") for day in days]
    return _base("bar", labels, [
        {"label": "Telemetry messages", "data": [d["telemetry"] for d in days], "backgroundColor": BLUE},
        {"label": "Payment confirmations", "data": [d["confirmations"] for d in days], "backgroundColor": GREEN},
    ], scales={"y": {"beginAtZero": True, "ticks": {"precision": 0}}})


def income_chart(chart: FundChart) -> dict:
    """A fund manager's income per 10,000 units per day (a gap where no figure came)."""
    labels = [day.day.strftime("%m-%d") for day in chart.days]
    data = [None if day.income_per_10k is None else float(day.income_per_10k) for day in chart.days]
    return _base("line", labels, [
        {"label": "Income per 10,000 units (CNY)", "data": data, "borderColor": BLUE, "backgroundColor": BLUE, "spanGaps": False},
    ], scales={"y": {"title": {"display": True, "text": "CNY per 10,000 units"}}})
