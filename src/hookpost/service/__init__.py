"""Use cases shared by every edge (API, portal, CLI): validation across objects, then the store.

Edges translate their wire formats into the `core.fields` values these functions take.
"""
