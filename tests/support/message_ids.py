"""Every message id raised in src/, found by reading the code (so an id added without words
fails the tests that use this: the English table's and the portal catalogs')."""

from __future__ import annotations

import re
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "hookpost"
# message_id="...", an error named by its code alone (the id defaults to it),
# NotFound(entity="..."), InvalidInput.at(loc, "...") and the rules' Problem.of("..."), over
# one or more lines.
RAISED = re.compile(
    r'message_id="(?P<id>[a-z0-9_]+)"'
    r'|\(code="(?P<code>[a-z0-9_]+)"\)'
    r'|NotFound\((?:[^()]*, )?entity="(?P<entity>[a-z0-9_]+)"'
    r'|InvalidInput\.at\(\s*(?:\([^()]*\)|\w+),\s*"(?P<input>[a-z0-9_]+)"'
    r'|Problem\.of\(\s*"(?P<rule>[a-z0-9_]+)"'
)


def raised_message_ids() -> set[str]:
    raised = set()
    for path in SOURCE.rglob("*.py"):
        for found in RAISED.finditer(path.read_text()):
            kind = found.lastgroup
            assert kind is not None
            name = found.group(kind)
            raised.add(f"{name}_not_found" if kind == "entity" else name)
    assert len(raised) > 100  # the pattern still finds the raise sites
    return raised
