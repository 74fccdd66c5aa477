"""The portal's languages: catalogs complete for every extracted string, the language choice,
and status codes, error classes and dates said in the visitor's language.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from hookpost.core import status_codes, wording
from hookpost.core.errors import FieldProblem, InvalidInput, Problem
from hookpost.core.outcomes import ErrorClass, FailureCode
from hookpost.portal import i18n
from tests.support.message_ids import raised_message_ids

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


def fields_of(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("language", ["es", "pt_BR"])
def test_every_message_id_and_failure_code_has_words_in_both_catalogs(language: str) -> None:
    path = PORTAL / "locales" / language / "LC_MESSAGES" / "errors.po"
    with path.open("rb") as handle:
        entries = {(m.context, m.id): m.string for m in read_po(handle) if m.id}
    # Every id raised anywhere in src/ (read from the code) and every line of the table.
    ids = (raised_message_ids() - {"validation_error"}) | set(wording.ENGLISH)
    missing = sorted(i for i in ids if not entries.get(("message", i)))
    assert not missing, f"no {language} words for {missing}"
    codes = {code.value for code in FailureCode}
    assert sorted(c for c in codes if not entries.get(("failure", c))) == []
    # No words for ids nobody raises any more.
    keys = {("message", i) for i in ids} | {("failure", c) for c in codes}
    assert sorted(set(entries) - keys) == []
    for message_id in ids:
        english = wording.ENGLISH[message_id]
        # A translation may leave a parameter out, never name one the error lacks.
        assert fields_of(entries["message", message_id]) <= fields_of(english), message_id


def test_problems_are_said_by_message_id_and_failures_by_error_code(
    catalogs: dict[str, object],
) -> None:
    en, es, pt = (speaker(catalogs, x) for x in ("en", "es", "pt_BR"))
    refused = InvalidInput.broken(("body", "url"), Problem.of("url_scheme_missing")).problems[0]
    assert en.problem(refused) == "scheme: the URL must start with http:// or https://"
    assert es.problem(refused) == "La URL debe empezar con http:// o https://."
    assert pt.problem(refused) == "A URL deve começar com http:// ou https://."
    port = InvalidInput.broken(("url",), Problem.of("url_port_invalid", port="http")).problems[0]
    assert es.problem(port) == "El puerto debe ser un número de 1 a 65535, no 'http'."
    # The portal's own words (id invalid_value) are still said by their machine type.
    required = FieldProblem(("url",), "Enter the URL of your endpoint.", "required")
    assert es.problem(required) == "Escriba la URL de su endpoint."
    code, kind = FailureCode.CONNECTION_REFUSED, ErrorClass.REFUSED
    assert en.failure(code, kind) == code.explanation
    assert es.failure(code, kind).startswith("El servidor del endpoint rechazó la conexión")
    assert pt.failure(code, kind).startswith("O servidor do endpoint recusou a conexão")
    # A code this version does not know is explained by its class; nothing known, nothing said.
    assert es.failure("from_the_future", kind) == es.error_class(kind)
    assert en.failure("from_the_future", kind) == kind.explanation
    assert es.failure(None, None) == ""


def test_without_words_for_a_code_or_an_id_the_class_then_english_is_said(
    tmp_path: Path,
) -> None:
    # The catalogs as they were before errors.po: status codes and classes only.
    for language in ("es", "pt_BR"):
        folder = tmp_path / language / "LC_MESSAGES"
        folder.mkdir(parents=True)
        for domain in ("messages", "explanations"):
            source = PORTAL / "locales" / language / "LC_MESSAGES" / f"{domain}.po"
            (folder / f"{domain}.po").write_bytes(source.read_bytes())
    older = i18n.load_catalogs(tmp_path)
    es = speaker(older, "es")  # type: ignore[arg-type]
    code, kind = FailureCode.RESPONSE_TIMEOUT, ErrorClass.TIMEOUT
    assert es.failure(code, kind) == "El endpoint no respondió a tiempo."  # the class, in Spanish
    assert speaker(older, "en").failure(code, None) == code.explanation  # type: ignore[arg-type]
    problem = InvalidInput.at(("query", "limit"), "limit_too_high", limit=250).problems[0]
    assert es.problem(problem) == "Given limit must not exceed 250"  # the table's English
