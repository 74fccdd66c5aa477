"""Each setting is declared once, and the docs and `--help` say what the code does.

The declaration in hookpost.config is the reference: every `HOOKPOST_*` variable it reads is
documented with its default, nothing else is documented, and each one reaches its field.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from ipaddress import ip_network
from pathlib import Path

import pytest

from hookpost.config import SECTIONS, ConfigError, Settings
from hookpost.config_fields import variable_of
from hookpost.config_reference import rewrite, variables

ROOT = Path(__file__).resolve().parents[1]
CONFIGURATION = ROOT / "docs" / "configuration.md"
DOCUMENTED_ROW = re.compile(r"^\| `(HOOKPOST_[A-Z_]+)`[^|]*\| ([^|]+) \|", re.MULTILINE)
MENTIONED = re.compile(r"\bHOOKPOST_[A-Z][A-Z_]*[A-Z]\b")
# Variables of the test and benchmark harness, not of hookpost.
HARNESS = {"HOOKPOST_TEST_POSTGRES", "HOOKPOST_TEST_REQUIRE_POSTGRES", "HOOKPOST_TEST_SLOW"}
# Read by the remote CLI (hookpost.remote.connection) on a developer's machine, not a server
# setting: where the API is and which config file to read (HOOKPOST_API_TOKEN is both).
CLIENT = {"HOOKPOST_SERVER_URL", "HOOKPOST_CLI_CONFIG"}

# One value other than the default for every variable, and the field value it must give.
SAMPLES: dict[str, tuple[str, str, object]] = {
    "HOOKPOST_DATABASE_URL": (" postgresql://u@h/db ", "database_url", "postgresql://u@h/db"),
    "HOOKPOST_API_TOKEN": ("hp_sk_x", "api_token", "hp_sk_x"),
    "HOOKPOST_HOST": ("0.0.0.0", "host", "0.0.0.0"),
    "HOOKPOST_PORT": ("9000", "port", 9000),
    "HOOKPOST_LOG_LEVEL": ("WARNING", "log_level", "warning"),
    "HOOKPOST_LOG_FORMAT": (" JSON ", "log_format", "json"),
    "HOOKPOST_RETENTION_INTERVAL": ("5m", "retention_interval", 300.0),
    "HOOKPOST_RETENTION_BATCH": ("500", "retention_batch", 500),
    "HOOKPOST_ATTEMPT_RETENTION": ("30d", "attempt_retention", 30 * 86400.0),
    "HOOKPOST_METRICS": ("off", "metrics", False),
    "HOOKPOST_METRICS_TOKEN": ("scrape-me", "metrics_token", "scrape-me"),
    "HOOKPOST_METRICS_PORT": ("9108", "metrics_port", 9108),
    "HOOKPOST_METRICS_HOST": ("0.0.0.0", "metrics_host", "0.0.0.0"),
    "HOOKPOST_MAX_PAYLOAD_BYTES": ("512KiB", "max_payload_bytes", 512 * 1024),
    "HOOKPOST_IDEMPOTENCY_TTL": ("30m", "idempotency_ttl", 1800.0),
    "HOOKPOST_RETRY_SCHEDULE": ("1, 2.5", "retry_schedule", (1.0, 2.5)),
    "HOOKPOST_RETRY_JITTER": ("0", "retry_jitter", 0.0),
    "HOOKPOST_RETRY_TIMEOUT_FLOOR": ("250ms", "retry_timeout_floor", 0.25),
    "HOOKPOST_DISABLE_AFTER": ("1d", "disable_after", 86400.0),
    "HOOKPOST_REQUEST_TIMEOUT": ("2s", "request_timeout", 2.0),
    "HOOKPOST_CONNECT_TIMEOUT": ("1.5", "connect_timeout", 1.5),
    "HOOKPOST_MAX_RESPONSE_BYTES": ("1MiB", "max_response_bytes", 1024 * 1024),
    "HOOKPOST_STORED_RESPONSE_BYTES": ("4KiB", "stored_response_bytes", 4096),
    "HOOKPOST_HTTP_CLIENT": (" AIOHTTP ", "http_client", "aiohttp"),
    "HOOKPOST_WORKER_CONCURRENCY": ("8", "worker_concurrency", 8),
    "HOOKPOST_ENDPOINT_CONCURRENCY": ("2", "endpoint_concurrency", 2),
    "HOOKPOST_SLOW_AFTER": ("500ms", "slow_after", 0.5),
    "HOOKPOST_FEED_COMMIT_WINDOW": ("150ms", "feed_commit_window", 0.15),
    "HOOKPOST_STREAM_HEARTBEAT": ("300ms", "stream_heartbeat", 0.3),
    "HOOKPOST_STREAM_BUFFER": ("256KiB", "stream_buffer", 256 * 1024),
    "HOOKPOST_STREAM_STALL_TIMEOUT": ("2s", "stream_stall_timeout", 2.0),
    "HOOKPOST_PUBLIC_URL": (
        "https://hooks.example.com/",
        "public_url",
        "https://hooks.example.com",
    ),
    "HOOKPOST_PORTAL_FRAME_ANCESTORS": (
        "https://dash.example.com, 'self'",
        "portal_frame_ancestors",
        ("https://dash.example.com", "'self'"),
    ),
    "HOOKPOST_PORTAL_BRAND_NAME": ("Acme", "portal_brand_name", "Acme"),
    "HOOKPOST_PORTAL_LOGO_URL": (
        "https://cdn.example.com/l.svg",
        "portal_logo_url",
        "https://cdn.example.com/l.svg",
    ),
    "HOOKPOST_PORTAL_ACCENT_COLOR": ("#aa00ff", "portal_accent_color", "#aa00ff"),
    "HOOKPOST_SLOW_SLOTS": ("10", "slow_slots", 10),
    "HOOKPOST_PROBATION_CONCURRENCY": ("4", "probation_concurrency", 4),
    "HOOKPOST_PROBATION_SLOW_AFTER": ("250ms", "probation_slow_after", 0.25),
    "HOOKPOST_CLAIM_BATCH": ("7", "claim_batch", 7),
    "HOOKPOST_LEASE_SECONDS": ("2m", "lease_seconds", 120.0),
    "HOOKPOST_POLL_INTERVAL": ("200ms", "poll_interval", 0.2),
    "HOOKPOST_SHUTDOWN_GRACE": ("0", "shutdown_grace", 0.0),
    "HOOKPOST_OPERATIONAL_WEBHOOK_URL": (
        "https://ops.example/",
        "operational_webhook_url",
        "https://ops.example/",
    ),
    "HOOKPOST_OPERATIONAL_WEBHOOK_SECRET": ("whsec_x", "operational_webhook_secret", "whsec_x"),
    "HOOKPOST_BACKGROUND_TASK_LEASE": ("2m", "background_task_lease", 120.0),
    "HOOKPOST_ALLOWED_NETWORKS": (
        "10.0.0.0/8 127.0.0.1",
        "allowed_networks",
        (ip_network("10.0.0.0/8"), ip_network("127.0.0.1/32")),
    ),
    "HOOKPOST_HTTPS_ONLY": ("yes", "https_only", True),
    "HOOKPOST_MAX_HEADER_BYTES": ("16KiB", "max_header_bytes", 16 * 1024),
    "HOOKPOST_REQUEST_READ_TIMEOUT": ("10s", "request_read_timeout", 10.0),
    "HOOKPOST_MAX_CONNECTIONS": ("100", "max_connections", 100),
    "HOOKPOST_KEEP_ALIVE_TIMEOUT": ("30s", "keep_alive_timeout", 30.0),
    "HOOKPOST_DNS_SERVERS": (
        "10.0.0.2, 10.0.0.3:5353,[::1]:53",
        "dns_servers",
        ("10.0.0.2", "10.0.0.3:5353", "[::1]:53"),
    ),
    "HOOKPOST_DNS_TIMEOUT": ("1s", "dns_timeout", 1.0),
    "HOOKPOST_DNS_FAILURE_TTL": ("0", "dns_failure_ttl", 0.0),
    "HOOKPOST_DNS_CHECK_TIMEOUT": ("500ms", "dns_check_timeout", 0.5),
}


def test_every_setting_is_declared_once_and_named_after_its_field() -> None:
    fields = dataclasses.fields(Settings)
    envs = [variable_of(field).env for field in fields]
    assert len(envs) == len(set(envs))
    for field in fields:
        assert variable_of(field).env == "HOOKPOST_" + field.name.upper()
    # The sections partition the settings: each field belongs to exactly one.
    in_sections = [f.name for section in SECTIONS for f in dataclasses.fields(section)]
    assert sorted(in_sections) == sorted(f.name for f in fields)


def test_the_documented_tables_are_the_declaration() -> None:
    document = CONFIGURATION.read_text()
    assert rewrite(document) == document, (
        "docs/configuration.md is out of date: run "
        ".venv/bin/python -m hookpost.config_reference docs/configuration.md"
    )


def test_every_variable_is_documented_with_its_default() -> None:
    documented = dict(DOCUMENTED_ROW.findall(CONFIGURATION.read_text()))
    declared = {variable.env: variable.shown_default() for _, variable in variables()}
    assert documented == declared


def test_the_client_variables_are_the_ones_the_remote_cli_reads() -> None:
    source = (ROOT / "src/hookpost/remote/connection.py").read_text()
    assert set(MENTIONED.findall(source)) == CLIENT | {"HOOKPOST_API_TOKEN"}


def test_nothing_documented_anywhere_is_a_variable_that_does_not_exist() -> None:
    declared = {variable.env for _, variable in variables()}
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for document in documents:
        unknown = set(MENTIONED.findall(document.read_text())) - declared - HARNESS - CLIENT
        assert not unknown, f"{document.name} names variables hookpost does not read: {unknown}"


def test_every_variable_reaches_its_field() -> None:
    assert set(SAMPLES) == {variable.env for _, variable in variables()}
    settings = Settings.from_env({env: raw for env, (raw, _, _) in SAMPLES.items()})
    for env, (_, name, expected) in SAMPLES.items():
        assert getattr(settings, name) == expected, env
        assert getattr(Settings(), name) != expected, f"{env}'s sample is its default"


def test_an_empty_environment_gives_the_declared_defaults() -> None:
    assert Settings.from_env({}) == Settings()
    assert Settings.from_env({"HOOKPOST_PORT": ""}).port == 8071  # empty means unset


@pytest.mark.parametrize(
    ("env", "raw", "says"),
    [
        ("HOOKPOST_PORT", "70000", "0 to 65535, got '70000'"),
        ("HOOKPOST_REQUEST_TIMEOUT", "0", "greater than zero"),
        ("HOOKPOST_RETRY_JITTER", "1", "below 1"),
        ("HOOKPOST_MAX_PAYLOAD_BYTES", "lots", "size"),
        ("HOOKPOST_HTTPS_ONLY", "maybe", "true or false"),
        ("HOOKPOST_LOG_LEVEL", "loud", "debug, info"),
        ("HOOKPOST_LOG_FORMAT", "xml", "text or json"),
        ("HOOKPOST_HTTP_CLIENT", "httpx", "builtin or aiohttp"),
        ("HOOKPOST_RETENTION_BATCH", "0", "greater than zero"),
        ("HOOKPOST_ALLOWED_NETWORKS", "10.0.0.1/8", "host bits"),
        ("HOOKPOST_DNS_SERVERS", "ns1.example", "name server addresses"),
        ("HOOKPOST_DNS_SERVERS", "10.0.0.2:99999", "name server addresses"),
    ],
)
def test_a_bad_value_names_its_variable(env: str, raw: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        Settings.from_env({env: raw})
    assert str(caught.value).startswith(f"{env}: ")


def test_cross_setting_rules_still_hold() -> None:
    with pytest.raises(ConfigError, match="HOOKPOST_LEASE_SECONDS must exceed"):
        Settings.from_env({"HOOKPOST_LEASE_SECONDS": "10", "HOOKPOST_REQUEST_TIMEOUT": "10"})
    with pytest.raises(ConfigError, match="HOOKPOST_DATABASE_URL must start"):
        Settings().with_overrides(database_url="mysql://x")


def test_printing_the_settings_shows_no_secret() -> None:
    shown = repr(Settings(api_token="hp_sk_secret", operational_webhook_secret="whsec_secret"))
    assert "secret" not in shown
    assert "worker_concurrency=64" in shown


def help_of(*command: str) -> str:
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "hookpost", *command, "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


@pytest.mark.parametrize("command", ["serve", "api", "worker"])
def test_the_server_commands_help_shows_every_variable_with_its_default(command: str) -> None:
    shown = help_of(command)
    for _, variable in variables():
        line = f"{variable.env}={variable.default}" if variable.default else variable.env
        assert line in shown, line
    assert "[default: sqlite:///hookpost.sqlite3]" in " ".join(shown.split())


def test_the_serve_flags_show_their_defaults() -> None:
    shown = help_of("serve")
    assert re.search(r"--host .*HOOKPOST_HOST\.\s.*\[default: 127\.0\.0\.1\]", shown, re.S)
    assert re.search(r"--port .*HOOKPOST_PORT\.\s.*\[default: 8071\]", shown, re.S)
