"""The portal's languages: catalogs complete for every extracted string, the language choice,
and status codes, error classes and dates said in the visitor's language.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from hookpost.core import status_codes
from hookpost.core.outcomes import ErrorClass
from hookpost.portal import i18n

PORTAL = Path(i18n.__file__).parent
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]


def extracted() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(PORTAL, METHODS):
        found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("language", ["es", "pt_BR"])
def test_every_portal_string_is_translated(language: str) -> None:
    path = PORTAL / "locales" / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle)
    translated = {m.id for m in catalog if m.id and m.string}
    missing = extracted() - translated
    assert not missing, f"untranslated in {language}: {sorted(missing)}"
    assert len(translated) > 80


@pytest.mark.parametrize(
    ("asked", "cookie", "header", "expected"),
    [
        (None, None, None, "en"),
        (None, None, "es-ES,es;q=0.9,en;q=0.8", "es"),
        (None, None, "pt-BR,pt;q=0.9", "pt_BR"),
        (None, None, "pt-PT", "pt_BR"),
        (None, None, "de-DE,fr;q=0.9", "en"),
        (None, None, "de;q=1,es;q=0.5,en;q=0.1", "es"),
        (None, None, "es;q=0", "en"),
        (None, "es", "pt-BR", "es"),
        ("pt_BR", "es", "en", "pt_BR"),
        ("xx", None, "es", "es"),
    ],
)
def test_language_choice(
    asked: str | None, cookie: str | None, header: str | None, expected: str
) -> None:
    assert i18n.choose_language(asked, cookie, header) == expected


@pytest.fixture(scope="module")
def catalogs() -> dict[str, object]:
    return i18n.load_catalogs()  # type: ignore[return-value]


def speaker(catalogs: dict[str, object], language: str) -> i18n.Speaker:
    return i18n.Speaker(language, catalogs[language])  # type: ignore[arg-type]


def test_status_codes_and_error_classes_are_translated_by_key(catalogs: dict[str, object]) -> None:
    en, es, pt = (speaker(catalogs, x) for x in ("en", "es", "pt_BR"))
    assert en.status_explanation(500) == status_codes.describe(500).explanation
    assert "falló" in es.status_explanation(500)
    assert "falhou" in pt.status_explanation(500)
    assert es.status_name(404) == "No encontrado"
    assert pt.status_name(200) == "OK"
    assert en.error_class("timeout") == ErrorClass.TIMEOUT.explanation
    assert es.error_class("timeout") == "El endpoint no respondió a tiempo."
    assert pt.error_class("refused").startswith("Ninguém")
    for member in ErrorClass:
        assert es.error_class(member.value) != member.explanation, member
        assert pt.error_class(member.value) != member.explanation, member
    assert es.error_class(None) == ""
    assert es.error_class("not-a-class") == ""
    # A code without a translation falls back to English rather than showing a key.
    assert es.status_explanation(418) == status_codes.describe(418).explanation


def test_dates_follow_the_locale(catalogs: dict[str, object]) -> None:
    at = datetime(2026, 3, 5, 14, 7, 9, tzinfo=UTC)
    assert speaker(catalogs, "en").datetime(at) == "Mar 5, 2026, 2:07:09\u202fPM"
    assert "mar 2026" in speaker(catalogs, "es").datetime(at)
    assert "14:07:09" in speaker(catalogs, "pt_BR").datetime(at)
    assert speaker(catalogs, "pt_BR").datetime(None) == ""
