"""The KPIs of the property-service plans, with their targets: the one definition the report, the dashboards,
the API and the warnings share. Traffic light: green at or past the target, yellow within 5 % of it, red beyond."""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.i18n import N_

DRIFT = 0.05  # the seeds' traffic-light rule: yellow once a KPI drifts more than 5 % from its target


@dataclass(frozen=True)
class Kpi:
    key: str
    title: str
    target: float  # percent
    description: str


KPIS: tuple[Kpi, ...] = (
    Kpi("facility_intact_rate", N_("Facility intact rate"), 98.0,
        "devices without an open outage, life-safety or degradation order during the period / devices"),
    Kpi("fault_repair_rate", N_("Fault repair rate"), 92.0,
        "orders opened in the period and resolved by its end / opened"),
    Kpi("emergency_response_30min", N_("Emergency response within 30 min"), 100.0,
        "life-safety and outage orders whose work started within 30 minutes / those orders"),
    Kpi("sla_compliance", N_("SLA compliance (resolve)"), 95.0,
        "orders resolved in the period before their resolve timer / orders resolved"),
    Kpi("intake_response_3min", N_("Requests answered within 3 min"), 90.0,
        "people's requests acknowledged within 3 minutes / requests opened"),
    Kpi("dispatch_accuracy", N_("Dispatch accuracy"), 92.0,
        "orders resolved by the person they were first dispatched to / orders resolved"),
    Kpi("follow_up_rate", N_("Follow-up rate"), 95.0,
        "orders closed in the period after a real follow-up (a rating, or a call) / orders closed"),
    Kpi("owner_satisfaction", N_("Owner satisfaction"), 90.0, "ratings of 4 or 5 / ratings given in the period"),
    Kpi("complaint_cycle_24h", N_("Complaints resolved within 24 h"), 95.0,
        "complaints opened in the period resolved within 24 hours / complaints opened"),
)
BY_KEY = {k.key: k for k in KPIS}


def status(value: float | None, target: float) -> str:
    """green / yellow / red, or n/a when there was nothing to measure."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if value >= target:
        return "green"
    return "yellow" if value >= target * (1 - DRIFT) else "red"
