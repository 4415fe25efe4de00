"""The users' languages: Chinese (zh_CN, the default) and English (en, the source language).

Texts in code are marked ``_("...")`` (or ``N_`` where they are only declared) and in templates ``{{ _("...") }}``;
Babel extracts them (``./scripts/i18n extract``) into ``core/locale/messages.pot``, a translator fills
``core/locale/<lang>/LC_MESSAGES/messages.po``, and ``./scripts/i18n compile`` builds the ``.mo`` files at install
(docs/translating.md). Placeholders are named (``_("Work order #%(id)s", id=7)``), never concatenated fragments.

The language of the current request or message is a context variable (``using(lang)``), so the same code renders
a page for a technician in Chinese and an e-mail for another person in English.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from gettext import NullTranslations
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = {"zh_CN": "中文", "en": "English"}
DEFAULT = "zh_CN"
SOURCE = "en"  # the language the texts are written in
LOCALE_DIR = Path(__file__).with_name("locale")
log = logging.getLogger(__name__)
_current: ContextVar[str] = ContextVar("language", default=DEFAULT)


def normalize(code: str | None) -> str | None:
    """``zh``, ``zh-CN``, ``zh_Hans``, ``zh-cn`` -> ``zh_CN``; ``en-US`` -> ``en``; anything else None."""
    if not code:
        return None
    code = code.strip().replace("-", "_").lower()
    if code.startswith("zh"):
        return "zh_CN"
    if code.startswith("en"):
        return "en"
    return None


def from_accept_language(header: str | None) -> str | None:
    """The first language of an ``Accept-Language`` header we have."""
    for part in (header or "").split(","):
        found = normalize(part.split(";")[0])
        if found:
            return found
    return None


@cache
def translations(lang: str) -> NullTranslations:
    """The compiled catalog; a catalog not compiled yet (a fresh checkout) is compiled in memory, with a warning."""
    if lang == SOURCE:
        return NullTranslations()
    mo = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.mo"
    if mo.is_file():
        return Translations.load(str(LOCALE_DIR), [lang])
    po = mo.with_suffix(".po")
    log.warning("%s is not compiled (./scripts/i18n compile); reading %s", mo, po)
    buffer = io.BytesIO()
    with po.open("rb") as source:
        write_mo(buffer, read_po(source, locale=lang))
    buffer.seek(0)
    return Translations(buffer)


def current() -> str:
    return _current.get()


@contextmanager
def using(lang: str | None) -> Iterator[str]:
    """Render in ``lang`` (None: keep the current one) inside the block."""
    token = _current.set(normalize(lang) or _current.get()) if lang else None
    try:
        yield _current.get()
    finally:
        if token is not None:
            _current.reset(token)


def set_language(lang: str | None) -> str:
    """For a whole request (pages): the language of everything rendered after it on this thread or task."""
    _current.set(normalize(lang) or DEFAULT)
    return _current.get()


def _(message: str, **values: object) -> str:
    """``message`` in the current language, with its named placeholders filled."""
    text = translations(_current.get()).gettext(message)
    return text % values if values else text


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark, translate later"
    return message


def pick(texts: dict[str, str] | None, source: str) -> str:
    """A per-language text from data (rule titles, notice texts): the current language's, else the source text
    marked with its language so a missing translation shows, never an empty text."""
    lang = _current.get()
    if lang == SOURCE:
        return source
    found = (texts or {}).get(lang)
    return found if found else f"[{SOURCE}] {source}"


# what the service's enumerations (priorities, statuses, steps, channels) are called on pages and in messages
LABELS = {
    "life_safety": N_("life safety"), "outage": N_("outage"), "degradation": N_("degradation"),
    "maintenance": N_("maintenance"), "open": N_("open"), "acknowledged": N_("acknowledged"),
    "in_progress": N_("in progress"), "resolved": N_("resolved"), "closed": N_("closed"),
    "acknowledge": N_("acknowledge"), "start": N_("start"), "resolve": N_("resolve"), "close": N_("close"),
    "reopen": N_("reopen"), "created": N_("created"), "assigned": N_("assigned"), "reassigned": N_("reassigned"),
    "reclassified": N_("reclassified"), "escalated": N_("escalated"),
    "escalated_arrive": N_("escalated: nobody on site in time"),
    "escalated_resolve": N_("escalated: not resolved in time"),
    "escalation_exhausted": N_("no further on-call level"), "follow_up": N_("follow-up"),
    "fault_cleared": N_("fault cleared"), "occurrence": N_("occurred again"), "devices_lost": N_("devices lost"),
    "app": N_("app"), "phone": N_("phone"), "walk_in": N_("walk-in"), "wechat": N_("WeChat"), "email": N_("e-mail"),
    "api": N_("integration"), "red": N_("red"), "yellow": N_("yellow"), "green": N_("green"),
}


def label(value: str | None) -> str:
    """An enumeration's value as people say it (``life_safety`` -> 生命安全 / life safety)."""
    if not value:
        return ""
    return _(LABELS[value]) if value in LABELS else value.replace("_", " ")
