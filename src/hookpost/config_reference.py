"""The settings declaration rendered for people: docs/configuration.md's tables and CLI help.

`python -m hookpost.config_reference docs/configuration.md` rewrites the generated part.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from hookpost.config import SECTIONS, Settings
from hookpost.config_fields import Variable, variable_of

BEGIN = "<!-- generated from src/hookpost/config.py by python -m hookpost.config_reference -->"
END = "<!-- end of generated settings -->"


def variables(*sections: type) -> list[tuple[str, Variable]]:
    """(field name, variable) of every setting in `sections` (all of them by default)."""
    chosen = sections or SECTIONS
    return [
        (field.name, variable_of(field))
        for section in chosen
        for field in dataclasses.fields(section)
    ]


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def markdown() -> str:
    """One table per section, in declaration order."""
    parts: list[str] = []
    for section in SECTIONS:
        doc = (section.__doc__ or "").strip()
        parts += [f"## {section.TITLE}", "", doc, "", "| variable | default | meaning |"]  # type: ignore[attr-defined]
        parts.append("|---|---|---|")
        for name, variable in variables(section):
            named = f"`{variable.env}`" + (f" / `{flag_of(name)}`" if variable.flag else "")
            parts.append(f"| {named} | {variable.shown_default()} | {variable.doc} |")
        parts.append("")
    return "\n".join(parts)


def rewrite(document: str) -> str:
    """`document` with the text between BEGIN and END replaced by `markdown()`."""
    head, begin, rest = document.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the document lacks the markers {BEGIN!r} ... {END!r}")
    return f"{head}{BEGIN}\n\n{markdown()}\n{END}{tail}"


def setting_name(name: str) -> str:
    """How an operator sets `name`: its variable, and its flag when it has one."""
    variable = _variable(name)
    return variable.env + (f" (or {flag_of(name)})" if variable.flag else "")


def option_help(name: str) -> str:
    """Help for the CLI flag that overrides setting `name`."""
    variable = _variable(name)
    doc = variable.doc.replace("`", "")  # Markdown for the docs; noise in a terminal
    if not variable.doc.startswith("`"):
        doc = doc[:1].upper() + doc[1:]
    # The flag's own default is None (so the variable applies), so the default is written
    # here; "\[" keeps Rich, which renders Typer's help, from reading it as markup.
    return f"{doc}; overrides {variable.env}. \\[default: {variable.default or variable.unset}]"


def environment_help() -> str:
    """Every variable with its default, for the epilog of the server commands' --help."""
    lines = [
        f"{variable.env}={variable.default}"
        if variable.default
        else f"{variable.env} ({variable.unset})"
        for _, variable in variables()
    ]
    return "Settings, from the environment (see docs/configuration.md):\n\n" + "\n".join(lines)


def _variable(name: str) -> Variable:
    return variable_of(next(f for f in dataclasses.fields(Settings) if f.name == name))


if __name__ == "__main__":
    for path in map(Path, sys.argv[1:]):
        path.write_text(rewrite(path.read_text()))
