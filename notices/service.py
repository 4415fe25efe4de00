"""Posting notices for a work order, and reading them as an owner may (functions over a session)."""

from __future__ import annotations

from datetime import datetime, tzinfo

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from core import i18n
from core.i18n import N_, _, pick
from notices.models import Notice, NoticeTexts, Scope, render
from notifications.service import enqueue
from people.models import Role
from people.service import Principal
from register.service import Place, building_name, place_of
from workorders.models import INCIDENT, REQUEST, WorkOrder

PROGRESS = {"acknowledge": N_("a technician has taken it"), "start": N_("the technician is on it"),
            "reopen": N_("reopened, a technician will come back")}
"""What a person who asked hears at each step of their request (``NoticeTexts.progress``)."""


def place(session: Session, order: WorkOrder) -> Place:
    """Where the order's fault is, in the register's words (a storm or a person's request is no one device)."""
    if order.kind not in (INCIDENT, REQUEST):
        return place_of(session, order.kind, order.device_id, order.site, order.building)
    building = building_name(session, order.site, order.building)
    device = _("Many devices") if order.kind == INCIDENT else _("reported problem")
    return Place(device, building, _("%(device)s, %(building)s", device=device, building=building))


def post(session: Session, order: WorkOrder, phase: str, now: datetime, texts: NoticeTexts,
         topic_prefix: str, *, building: str | None = None, tz: tzinfo | None = None,
         language: str = i18n.DEFAULT) -> Notice | None:
    """The notice for this order's scope and phase (``fault`` or ``fixed``), in every language, also queued for MQTT;
    None when the order concerns no owner. ``building`` posts a building notice for an order of a whole site (a
    storm). Clock times are in ``tz``, the site's zone; ``text`` is in ``language``, the site's."""
    scope = Scope.BUILDING if building else Scope(order.scope)
    building = building or order.building
    if scope is Scope.NONE or (scope is Scope.UNIT and not order.unit):
        return None
    name = {(Scope.BUILDING, "fault"): "fault", (Scope.BUILDING, "fixed"): "fixed", (Scope.UNIT, "fault"): "unit_fault",
            (Scope.UNIT, "fixed"): "unit_fixed"}.get((scope, phase), "progress")
    rendered = {lang: _render(session, order, phase, name, building, now, texts, tz, lang) for lang in i18n.LANGUAGES}
    text = rendered.get(language) or rendered[i18n.DEFAULT]
    unit = order.unit if scope is Scope.UNIT else None
    notice = Notice(work_order_id=order.id, site=order.site, building=building, unit=unit, phase=phase,
                    text=text, texts=rendered, created_at=now)
    session.add(notice)
    topic = f"{topic_prefix}/{order.site}/{building}" + (f"/{unit}" if unit else "")
    enqueue(session, "mqtt", topic, f"notice: {phase}",
            {"notice": text, "texts": rendered, "phase": phase, "site": order.site, "building": building,
             "unit": unit, "at": now.isoformat()}, now, work_order_id=order.id)
    return notice


def _render(session: Session, order: WorkOrder, phase: str, name: str, building: str, now: datetime,
            texts: NoticeTexts, tz: tzinfo | None, lang: str) -> str:
    with i18n.using(lang):
        where = place(session, order)
        if building != order.building:  # a storm's notice for each building of the site
            named = building_name(session, order.site, building)
            where = Place(where.device, named, _("%(device)s, %(building)s", device=where.device, building=named))
        step = _(PROGRESS[phase]) if phase in PROGRESS else i18n.label(phase)
        return render(texts.template(name, lang), device=where.device, building=building,
                      building_name=where.building, where=where.where, unit=order.unit,
                      title=pick(order.titles, order.title), dispatched=order.created_at.astimezone(tz),
                      fixed=now.astimezone(tz), step=step, at=now.astimezone(tz))


def readable_by(query: Select, me: Principal) -> Select:
    """Owners read their building's notices and their own unit's; staff read all."""
    if me.role is not Role.OWNER:
        return query
    unit = Notice.unit.is_(None) if me.unit is None else or_(Notice.unit.is_(None), Notice.unit == me.unit)
    return query.where(and_(Notice.site == me.site, Notice.building == me.building), unit)


def latest(session: Session, me: Principal, limit: int = 50) -> list[Notice]:
    return list(session.scalars(readable_by(select(Notice).order_by(Notice.id.desc()).limit(limit), me)))
