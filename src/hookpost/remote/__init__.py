"""The remote command line: commands that talk to a running hookpost over its HTTP API only.

They never import the runtime or the store, so they work against any hookpost anywhere.
"""
