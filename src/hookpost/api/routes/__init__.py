"""Route modules, one per Svix resource; each exposes a `router`.

They stay thin: parse the wire input, call a service, render the wire output.
"""
