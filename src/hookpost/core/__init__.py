"""The pure domain core: ids, errors, models, rules.

Nothing here performs I/O or imports third-party code; time and randomness are arguments.
"""
