"""Every text people read exists in Chinese: the catalog covers every message marked in code and templates (as
Babel extracts them, so a new untranslated text fails here), every rule and request category has a Chinese title,
every notice text a Chinese template, every device kind a Chinese name, every label a translation."""

import subprocess
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from alerts.config import load_config
from core import i18n
from devices.kinds import ALL
from notices.models import NoticeTexts

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "core/locale/zh_CN/LC_MESSAGES/messages.po"


def extracted() -> set[str]:
    """What ``./scripts/i18n extract`` would put in the template, straight from the sources."""
    method_map, options_map = [], {}
    for line in (ROOT / "babel.cfg").read_text().splitlines():
        if line.startswith("[") and ":" in line:
            method, pattern = line.strip("[]").split(":", 1)
            method_map.append((pattern.strip(), method.strip()))
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords={"_": None, "N_": None, "gettext": None,
                                                          "ngettext": (1, 2)}):
        found |= set(message) if isinstance(message, tuple) else {message}
    return found


def test_every_marked_text_is_translated_into_chinese():
    catalog = {m.id: m.string for m in read_po(PO.open("rb"), locale="zh_CN") if m.id}
    messages = extracted()
    assert len(messages) > 100 and {"Report a problem", "new work order", "life safety"} <= messages  # all sources
    untranslated = sorted(m for m in messages if not catalog.get(m))
    assert untranslated == [], f"add these to {PO.relative_to(ROOT)} (./scripts/i18n extract && update)"
    for message in messages:  # placeholders survive translation
        for name in ("%(id)s", "%(n)s", "%(time)s", "%(reason)s", "%(unit)s", "%(person)s"):
            assert (name in message) == (name in catalog[message]), (message, catalog[message])


def test_the_compiled_catalog_is_the_one_used_and_a_missing_text_stays_english():
    subprocess.run([str(ROOT / "scripts/i18n"), "compile"], check=True, capture_output=True)
    i18n.translations.cache_clear()
    with i18n.using("zh_CN"):
        assert i18n._("Work orders") == "工单"
        assert i18n._("a text nobody translated") == "a text nobody translated"
        assert i18n.label("life_safety") == "生命安全"
        assert i18n.pick({}, "passengers trapped") == "[en] passengers trapped"  # visibly untranslated
    with i18n.using("en"):
        assert i18n._("Work orders") == "Work orders" and i18n.pick({"zh_CN": "电梯困人"}, "x") == "x"


def test_the_rules_data_has_chinese_titles_and_notices():
    config = load_config()
    missing = [r.id for r in config.rules if not r.titles.get("zh_CN")]
    missing += [f"intake.{name}" for name, c in config.intake.categories.items() if not c.titles.get("zh_CN")]
    missing += ["storms"] if not config.storms.titles.get("zh_CN") else []
    assert missing == []
    texts = NoticeTexts()
    for name in ("fault", "fixed", "unit_fault", "unit_fixed", "progress"):
        assert not texts.template(name, "zh_CN").startswith("[en]"), name
    assert all(k.title_zh for k in ALL)
    assert all(i18n.translations("zh_CN").gettext(label) != label for label in i18n.LABELS.values())


def test_languages_are_recognised_however_they_are_written():
    assert [i18n.normalize(c) for c in ("zh", "zh-CN", "zh_Hans", "ZH-cn", "en-US", "en", "fr", "", None)] == \
        ["zh_CN", "zh_CN", "zh_CN", "zh_CN", "en", "en", None, None, None]
    assert i18n.from_accept_language("fr-FR,en-US;q=0.8,zh;q=0.5") == "en"
