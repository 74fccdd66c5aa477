"""`python -m hookpost` runs the command line (tests start servers this way).

It is the same entry point as the `hookpost` script.
"""

from hookpost.cli import main

main()
