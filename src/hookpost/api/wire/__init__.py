"""Wire schemas (pydantic, camelCase) for requests, and renderers for responses.

Inputs ignore unknown fields, as the Svix SDKs send fields older servers do not know.
"""
