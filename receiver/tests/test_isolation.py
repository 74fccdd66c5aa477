"""Importing the library loads nothing beyond the standard library.

Standard library only (unittest); runs in a child interpreter to see a clean sys.modules.
"""

import json
import subprocess
import sys
import unittest

PROBE = """
import json, sys
import hookpost_receiver, hookpost_receiver.frameworks
stdlib = sys.stdlib_module_names
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} - set(stdlib))))
"""


class IsolationTest(unittest.TestCase):
    def test_imports_only_stdlib(self) -> None:
        out = subprocess.run(
            [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
        ).stdout
        # Site machinery (editable-install finders, setuptools' hack) is not the library's.
        loaded = {m for m in json.loads(out) if not m.startswith(("__editable__", "_distutils"))}
        self.assertEqual(loaded - {"hookpost_receiver", "__main__"}, set())


if __name__ == "__main__":
    unittest.main()
