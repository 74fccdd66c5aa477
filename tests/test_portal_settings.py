"""Portal settings: the public URL of magic links, framing, branding, and the headers and
cookie flags they turn into.
"""

from __future__ import annotations

import pytest

from hookpost.config import ConfigError, Settings
from hookpost.core.portal import Capability, resolve_capabilities
from hookpost.runtime import portal_look


def test_defaults() -> None:
    settings = Settings.from_env({"HOOKPOST_PORT": "9000"})
    assert settings.portal_base_url == "http://127.0.0.1:9000"
    look = portal_look(settings)
    assert look.frame_ancestors == ()
    assert not look.secure_cookies
    headers = dict(look.security_headers())
    assert b"frame-ancestors 'none'" in headers[b"content-security-policy"]
    assert headers[b"x-frame-options"] == b"DENY"


def test_https_public_url_frames_and_branding() -> None:
    settings = Settings.from_env(
        {
            "HOOKPOST_PUBLIC_URL": "https://hooks.example.com/",
            "HOOKPOST_PORTAL_FRAME_ANCESTORS": "https://dash.example.com, 'self'",
            "HOOKPOST_PORTAL_BRAND_NAME": " Acme ",
            "HOOKPOST_PORTAL_LOGO_URL": "https://cdn.example.com/logo.svg",
            "HOOKPOST_PORTAL_ACCENT_COLOR": "#AA00ff",
        }
    )
    assert settings.portal_base_url == "https://hooks.example.com"
    look = portal_look(settings)
    assert look.secure_cookies
    assert look.brand_name == "Acme"
    headers = dict(look.security_headers())
    policy = headers[b"content-security-policy"].decode()
    assert "frame-ancestors https://dash.example.com 'self'" in policy
    assert "img-src 'self' https:" in policy
    assert "unsafe-inline" not in policy
    assert b"x-frame-options" not in headers  # it cannot name origins; the CSP does


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HOOKPOST_PUBLIC_URL", "hooks.example.com"),
        ("HOOKPOST_PUBLIC_URL", "javascript:alert(1)"),
        ("HOOKPOST_PORTAL_FRAME_ANCESTORS", "https://a.example.com; script-src *"),
        ("HOOKPOST_PORTAL_FRAME_ANCESTORS", "*"),
        ("HOOKPOST_PORTAL_ACCENT_COLOR", "red; } body { display: none"),
        ("HOOKPOST_PORTAL_LOGO_URL", "data:image/png;base64,AAAA"),
    ],
)
def test_unsafe_values_are_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_capabilities_resolution() -> None:
    assert resolve_capabilities(None, read_only=False) == frozenset(Capability)
    assert resolve_capabilities(None, read_only=True) == {Capability.VIEW_BASE}
    assert resolve_capabilities(("ManageEndpoint",), read_only=True) == {Capability.VIEW_BASE}
    assert resolve_capabilities((), read_only=False) == {Capability.VIEW_BASE}
    assert resolve_capabilities(("ManageEndpoint",), read_only=False) == {
        Capability.VIEW_BASE,
        Capability.MANAGE_ENDPOINT,
        Capability.MANAGE_ENDPOINT_SECRET,
        Capability.VIEW_ENDPOINT_SECRET,
    }
    assert resolve_capabilities(("CreateAttempts",), read_only=False) == {
        Capability.VIEW_BASE,
        Capability.CREATE_ATTEMPTS,
    }
