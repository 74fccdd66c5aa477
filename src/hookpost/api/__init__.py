"""The HTTP API: Svix-compatible routes, camelCase wire schemas, auth and the error table.

Handlers translate wire input into `core.fields` values, call a service, render the result.
"""
