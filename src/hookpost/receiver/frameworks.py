"""Framework adapters of the receiver library, re-exported from `hookpost_receiver`.

Kept so `hookpost.receiver.frameworks` imports in existing code keep working.
"""

from hookpost_receiver.frameworks import (
    aiohttp_verify,
    django_verify,
    fastapi_dependency,
    flask_verify,
    starlette_verify,
)

__all__ = [
    "aiohttp_verify",
    "django_verify",
    "fastapi_dependency",
    "flask_verify",
    "starlette_verify",
]
