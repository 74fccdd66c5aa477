"""The receiver distribution on its own: a fresh virtual environment holding only its wheel.

Built here with this venv's setuptools, installed offline, then its stdlib-only tests run.
"""

import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECEIVER = ROOT / "receiver"


def run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(arg) for arg in args], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_receiver_tests_pass_in_a_venv_holding_only_the_receiver(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    # Built from a copy, so setuptools' build/ directory never lands in the repository.
    source = tmp_path / "source"
    shutil.copytree(RECEIVER, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    # No build isolation and no index: nothing is downloaded, the build uses our setuptools.
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--no-index", "-w", wheels, source)  # fmt: skip
    (wheel,) = wheels.glob("hookpost_receiver-*.whl")
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel)
    installed = run(python, "-m", "pip", "list", "--format=freeze").split()
    names = {line.split("==")[0].lower() for line in installed if "==" in line}
    assert names <= {"hookpost-receiver", "pip", "setuptools"}, names
    assert "hookpost-receiver" in names
    # The tests run from a copy, so they import the installed wheel, not the source tree.
    copied = tmp_path / "tests"
    copied.mkdir()
    for test in (RECEIVER / "tests").glob("test_*.py"):
        (copied / test.name).write_text(test.read_text())
    out = run(python, "-m", "unittest", "discover", "-s", copied, "-v", cwd=tmp_path)
    assert "OK" in out.splitlines()[-1], out
    # Without cryptography the v1a test takes its "clear error" branch instead of skipping.
    assert "test_v1a_reference_vector_or_clear_error (test_verify.Ed25519Test" in out
    assert "Ed25519Test.test_v1a_reference_vector_or_clear_error) ... ok" in out
    where = run(python, "-c", "import hookpost_receiver; print(hookpost_receiver.__file__)")
    assert str(env_dir) in where


def test_receiver_tests_pass_beside_cryptography() -> None:
    """The same tests with `cryptography` importable: v1a verifies the reference vector."""
    out = run(sys.executable, "-m", "unittest", "discover", "-s", RECEIVER / "tests", "-v")
    assert "OK" in out.splitlines()[-1], out
    assert "skipped" not in out
