"""Delivery: the sender (the only user of the HTTP client), one attempt, and the worker loop.

A failed delivery is a value (`core.outcomes.Outcome`), never an exception.
"""
