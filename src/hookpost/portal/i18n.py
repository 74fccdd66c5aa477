"""The portal's languages: gettext catalogs compiled from the .po files at start, the choice
of language per request, and dates, status codes, attempt failures and errors in that language.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from hookpost.core import status_codes, wording
from hookpost.core.errors import FieldProblem
from hookpost.core.outcomes import ErrorClass, FailureCode

LOCALES_DIR = Path(__file__).parent / "locales"
LANGUAGES = ("en", "es", "pt_BR")
LANGUAGE_NAMES = {"en": "English", "es": "Español", "pt_BR": "Português (Brasil)"}
DEFAULT = "en"
# Catalogs: `messages` is extracted from the templates and code; `explanations` is keyed by
# status code and error class (msgctxt "status-name"/"status-explanation"/"error-class");
# `errors` by message id (msgctxt "message", the ids of core/wording.py) and by an attempt's
# error code (msgctxt "failure", core.outcomes.FailureCode).
DOMAINS = ("messages", "explanations", "errors")


def _compile(po_path: Path) -> gettext.GNUTranslations:
    """Compile a .po file in memory, so a clean checkout needs no build step."""
    with po_path.open("rb") as handle:
        catalog = read_po(handle)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def load_catalogs(directory: Path = LOCALES_DIR) -> dict[str, gettext.NullTranslations]:
    catalogs: dict[str, gettext.NullTranslations] = {}
    for language in LANGUAGES:
        chain: gettext.NullTranslations = gettext.NullTranslations()
        for domain in reversed(DOMAINS):
            path = directory / language / "LC_MESSAGES" / f"{domain}.po"
            if path.exists():
                compiled = _compile(path)
                compiled.add_fallback(chain)
                chain = compiled
        catalogs[language] = chain
    return catalogs


def choose_language(asked: str | None, cookie: str | None, accept_language: str | None) -> str:
    """An explicit choice (query, then cookie) wins; else the best match of Accept-Language."""
    for explicit in (asked, cookie):
        if explicit in LANGUAGES:
            return explicit
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.strip().lower()))
    for negative_quality, _, tag in sorted(ranked):
        if negative_quality >= 0:
            continue
        found = _match(tag)
        if found:
            return found
    return DEFAULT


def _match(tag: str) -> str | None:
    primary = tag.replace("_", "-").split("-")[0]
    # Portuguese of any region is served in Brazilian Portuguese, the only one we have.
    return {"en": "en", "es": "es", "pt": "pt_BR"}.get(primary)


@dataclass(frozen=True)
class Speaker:
    """Everything a page needs to speak one language."""

    language: str
    translations: gettext.NullTranslations

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def pgettext(self, context: str, message: str) -> str:
        return self.translations.pgettext(context, message)

    @property
    def html_lang(self) -> str:
        return self.language.replace("_", "-")

    def datetime(self, at: datetime | None) -> str:
        if at is None:
            return ""
        return format_datetime(
            at.astimezone(UTC), "medium", tzinfo=UTC, locale=Locale.parse(self.language)
        )

    def status_name(self, code: int) -> str:
        return self._keyed("status-name", str(code), status_codes.describe(code).name)

    def status_explanation(self, code: int) -> str:
        return self._keyed("status-explanation", str(code), status_codes.describe(code).explanation)

    def error_class(self, name: str | None) -> str:
        """The explanation of an error class; empty for none or an unknown one."""
        if not name or name not in ErrorClass.__members__.values():
            return ""
        return self._keyed("error-class", name, ErrorClass(name).explanation)

    def failure(self, code: str | None, error_class: str | None) -> str:
        """Why an attempt failed, from its specific `error_code`; where this language has no
        words for the code, from its error class; then in English."""
        known = FailureCode.of(code)
        if known is not None and (said := self._translated("failure", known)) is not None:
            return said
        if error_class and (said := self._translated("error-class", error_class)) is not None:
            return said
        return self.error_class(error_class) if known is None else known.explanation

    def message(self, message_id: str, params: Mapping[str, str | int], english: str) -> str:
        """An error by its message id and parameters; the table's English (core/wording.py)
        where this language has no words for it, and `english` where the table has none."""
        template = self._translated("message", message_id)
        if template is not None:
            try:
                return template.format(**params)
            except (KeyError, IndexError, ValueError):
                pass  # a translation naming a parameter this error lacks: say it in English
        worded = wording.english(message_id, params)
        return english if worded is None else worded

    def problem(self, problem: FieldProblem) -> str:
        """An input problem in words: by its message id, or (for the words of a validator or
        of the portal's own form, id `invalid_value`) by its machine type."""
        if problem.message_id == "invalid_value":
            return self._keyed("problem", problem.type, problem.msg)
        return self.message(problem.message_id, problem.params, problem.msg)

    def _translated(self, context: str, key: str) -> str | None:
        translated = self.translations.pgettext(context, key)
        return None if translated == key else translated

    def _keyed(self, context: str, key: str, english: str) -> str:
        translated = self._translated(context, key)
        return english if translated is None else translated
