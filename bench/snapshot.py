"""A frozen copy of `src/hookpost` for one run: hookpost's code changes while people work,
so every process of a run imports the same snapshot, identified by commit and content hash.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def take(folder: Path, ref: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Copy src/hookpost under `folder` (the working tree, or the commit `ref` read with
    `git archive`); returns the path for PYTHONPATH and what was copied."""
    target = folder / "src"
    if ref is None:
        shutil.copytree(
            ROOT / "src" / "hookpost",
            target / "hookpost",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
    else:
        _extract(ref, folder)
    digest = hashlib.sha256()
    for path in sorted((target / "hookpost").rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(target)).encode())
            digest.update(path.read_bytes())
    changed = "" if ref else _git("status", "--porcelain", "--", "src")
    return target, {
        "source": f"git archive {ref}" if ref else "working tree",
        "commit": _git("rev-parse", "--short", ref or "HEAD"),
        "subject": _git("log", "-1", "--format=%s", ref or "HEAD"),
        "uncommitted_src_changes": [line[3:] for line in changed.splitlines()],
        "src_sha256": digest.hexdigest()[:16],
    }


def _extract(ref: str, folder: Path) -> None:
    """src/hookpost as of commit `ref` (read-only: `git archive` changes nothing)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "src/hookpost"],
        cwd=ROOT,
        capture_output=True,
        timeout=30,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
