"""The customer portal: server-rendered pages for one application, opened from a magic link.

It uses the service layer only; `install_portal` mounts it into the process's ASGI app.
"""
