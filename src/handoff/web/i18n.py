"""The web app's languages: gettext catalogs (English, 简体中文) compiled from the packaged .po files at start-up,
the language of a request (the person's choice, else Accept-Language), and dates and numbers in its locale.

The .po files under `web/locale/` are the only source: they are compiled in memory when the app starts (a few
milliseconds), so a fresh clone needs no build step and no compiled .mo file can go stale. `pybabel extract -F
babel.cfg` and `pybabel update` keep them in step with the templates (docs/webapp.md); a test fails on any page
text without a Chinese translation.
"""

from __future__ import annotations

import gettext
import io
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import pass_context

LOCALE_DIR = Path(__file__).parent / "locale"
LOCALES = ("en", "zh_CN")  # the first is the default and the language the templates are written in
LANGUAGE_COOKIE = "handoff_lang"
LANGUAGE_NAMES = {"en": "English", "zh_CN": "简体中文"}


def N_(message: str) -> str:
    """Marks a text for `pybabel extract` where it is defined; it is translated where it is shown."""
    return message


def compile_catalogs(directory: Path = LOCALE_DIR) -> dict[str, gettext.NullTranslations]:
    """Each locale's catalog read from its .po file and compiled in memory; English is the templates' own text."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    found: dict[str, gettext.NullTranslations] = {"en": gettext.NullTranslations()}
    for locale in LOCALES[1:]:
        path = directory / locale / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        compiled = io.BytesIO()
        write_mo(compiled, catalog, use_fuzzy=False)  # a fuzzy guess is shown as English, never half-right
        compiled.seek(0)
        found[locale] = gettext.GNUTranslations(compiled)
    return found


def accepted(header: str | None) -> list[str]:
    """Accept-Language's tags by preference (`zh-CN,zh;q=0.9,en;q=0.8` → zh_CN, zh, en); bad weights count 0."""
    weighted = []
    for n, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        if tag and tag != "*" and weight > 0:
            weighted.append((-weight, n, tag.replace("-", "_")))
    return [tag for _, _, tag in sorted(weighted)]


def choose_locale(choice: str | None, accept_language: str | None) -> str:
    """The person's choice when it is one we have, else the browser's first language we have (by language when the
    region differs: zh, zh_Hans and zh_TW read simplified Chinese here, the only Chinese there is), else English."""
    if choice in LOCALES:
        return choice  # type: ignore[return-value]
    by_language = {locale.split("_")[0].lower(): locale for locale in LOCALES}
    for tag in accepted(accept_language):
        exact = next((locale for locale in LOCALES if locale.lower() == tag.lower()), None)
        if exact:
            return exact
        if tag.split("_")[0].lower() in by_language:
            return by_language[tag.split("_")[0].lower()]
    return LOCALES[0]


class Formats:
    """Dates and numbers as the locale writes them (Babel's CLDR data), for the templates. The locale and the number
    patterns are parsed once (`formats_for`): a review page formats hundreds of confidences."""

    def __init__(self, locale: str) -> None:
        from babel import Locale
        from babel.numbers import parse_pattern

        self.locale = locale
        self._locale = Locale.parse(locale)
        self._percent = parse_pattern("#,##0%")
        self._numbers = {digits: parse_pattern("#,##0." + "0" * digits if digits else "#,##0") for digits in range(4)}

    def date(self, value: date | datetime | None, format: str = "medium") -> str:
        from babel.dates import format_date

        if value is None:
            return "—"
        return format_date(value.date() if isinstance(value, datetime) else value, format=format, locale=self._locale)

    def datetime(self, value: datetime | None) -> str:
        """A UTC time (the store's) as the locale writes a short date and time, with the zone said."""
        from babel.dates import format_datetime

        if value is None:
            return "—"
        return format_datetime(value, "short", tzinfo=None, locale=self._locale) + " UTC"

    def percent(self, value: float | None) -> str:
        return "—" if value is None else self._percent.apply(value, self._locale)

    def number(self, value: float | int | None, digits: int = 0) -> str:
        return "—" if value is None else self._numbers[min(digits, 3)].apply(value, self._locale)


@lru_cache(maxsize=len(LOCALES))
def formats_for(locale: str) -> Formats:
    return Formats(locale)


def translations_of(context: Any) -> gettext.NullTranslations:
    return context.get("translations") or gettext.NullTranslations()


@pass_context
def _gettext(context: Any, message: str) -> str:
    return translations_of(context).gettext(message)


@pass_context
def _ngettext(context: Any, singular: str, plural: str, n: int) -> str:
    return translations_of(context).ngettext(singular, plural, n)


def install(environment: Any) -> None:
    """`{% trans %}` and `_()` in every template, translated with the `translations` of the page being rendered
    (one environment serves every language at once: nothing global changes per request)."""
    environment.add_extension("jinja2.ext.i18n")
    environment.install_gettext_callables(_gettext, _ngettext, newstyle=True)


# Words the templates show from data (a task's status, a priority, a role, a field name, a ledger status): marked
# here so `pybabel extract` finds them; pages show them as `_(value)`.
SHOWN_VALUES = (
    N_("suggested"), N_("open"), N_("done"), N_("rejected"), N_("all"),
    N_("low"), N_("normal"), N_("high"), N_("urgent"),
    N_("admin"), N_("pm"), N_("sales"), N_("account_owner"), N_("integration"),
    N_("title"), N_("assignee"), N_("due"), N_("priority"), N_("task"),
    N_("received"), N_("parsed"), N_("processed"), N_("tasks_created"), N_("threaded"), N_("duplicate"),
    N_("no_tasks"), N_("spam"), N_("bulk"), N_("failed"),
    N_("snoozed"), N_("resolved"), N_("sent"), N_("pending"), N_("skipped"), N_("cancelled"),
)  # fmt: skip
