"""hookpost: self-hosted webhook delivery, wire-compatible with the core of the Svix API.

The package version is the one source of truth for the user-agent and the API.
"""

__version__ = "0.1.0"
