"""The English words of every error and input problem hookpost raises by message id.

Errors carry a message id and its parameters (core/errors.py); an edge words them: the API
answers in this English (`api.errors.MESSAGES` is this table), the portal translates the same
ids and falls back to it. An id not here is worded by the error's own detail: `invalid_value`
(a validator's or library's words, given as they are) and the prose of start-up errors.
tests/test_api_errors.py checks that every id raised in src/ has its line, and every line is used.
"""

from __future__ import annotations

from collections.abc import Mapping

ENGLISH: dict[str, str] = {
    # 404 and 409
    "application_not_found": "Application not found",
    "endpoint_not_found": "Endpoint not found",
    "message_not_found": "Message not found",
    "attempt_not_found": "Message attempt not found",
    "event_type_not_found": "Event type not found",
    "background_task_not_found": "Background task not found",
    "application_uid_taken": "An application with that id or uid already exists",
    "endpoint_uid_taken": "An endpoint with that uid already exists in this application",
    "event_type_exists": "An event_type with this name already exists",
    "event_id_taken": "A message with eventId '{event_id}' already exists",
    "conflict": "The request conflicts with the current state of a resource",
    "idempotency_key_in_use": (
        "A request with this idempotency key is still being processed; retry later"
    ),
    # Starlette's own refusals and a bug, answered through the same table (api/errors.py)
    "route_not_found": "Entity not found",
    "method_not_allowed": "Method Not Allowed",
    "http_error": "The request failed (HTTP {status})",
    "internal_error": "An unexpected error occurred",
    # 400
    "value_refused": "The database refused a value of the request",
    "until_in_future": "'until' must not be in the future",
    "range_too_long": "the range must start before it ends and span at most {days} days",
    "endpoint_disabled": "The endpoint is disabled",
    "endpoint_disabled_enable_first": (
        "The endpoint is disabled; enable it (PATCH disabled=false) before sending to it"
    ),
    "payload_gone": (
        "The message content has been expunged or has expired; it cannot be sent again"
    ),
    "example_missing": "Unable to generate example message from event-type schema",
    "example_not_object": "The schema's example is not a JSON object",
    "too_many_old_secrets": (
        "at most {limit} old secrets may be valid at once; wait for one to expire"
    ),
    # 401, 403, 408, 413 and 503
    "invalid_token": "Invalid token",
    "metrics_token_required": "a valid metrics token is required",
    "route_not_allowed": "This token is not allowed to call this route",
    "body_too_slow": "The body arrived too slowly",
    "request_too_large": "Request payload is too large (limit {limit} bytes).",
    "payload_over_limit": "The payload is {size} bytes; the limit is {limit} bytes",
    "database_unavailable": "The database is unavailable; retry shortly",
    # 422: input problems, each at its `loc`
    "field_required": "Field required",
    "body_not_json": "The body is not valid JSON: {reason}",
    "limit_too_high": "Given limit must not exceed {limit}",
    "limit_too_low": "Given limit must be at least 1",
    "iterator_not_an_id": "iterator must be an id starting with '{prefix}'",
    "iterator_not_an_event_type": "iterator must be an event type name",
    "iterator_not_returned": "iterator must be one this API returned",
    "status_code_class_unknown": "must be one of 0, 100, 200, 300, 400 or 500",
    "last_event_id_unknown": "Last-Event-ID must be a message id this stream sent",
    "consumer_id_invalid": "consumer ids are 1-{limit} ASCII characters",
    "idempotency_key_too_long": "must be at most {limit} ASCII characters",
    "not_an_application_ref": "not an application id or uid",
    "not_an_endpoint_ref": "not an endpoint id or uid",
    "since_after_until": "'since' must be before 'until'",
    "window_too_long": "the window may span at most {days} days",
    "no_application_exists": "none of the given applications exist",
    "event_types_missing": "The following event types don't exist: {names}",
    "application_uid_required": (
        "application.uid is required to create the application with the message"
    ),
    "application_uid_mismatch": "application.uid '{uid}' must equal the application in the path",
    "unpaired_surrogate": "the text contains an unpaired UTF-16 surrogate",
    "expiry_out_of_range": "expiry must be between {min} and {max} seconds",
    "expiry_negative": "expiry must not be negative",
    "spec_exactly_one": "send exactly one of spec and specRaw",
    "spec_unreadable": "not valid YAML or JSON: {reason}",
    # 422: the endpoint URL rules (core/urls.py); the English starts with the rule's machine
    # name (the 422's type is `url.<rule>`), as the API has always answered
    "url_too_long": "length: the URL is {length} characters long; the limit is {limit}",
    "url_backslash": "characters: the URL contains a backslash, which is not allowed",
    "url_control_character": (
        "characters: the URL contains a space or control character ({codepoint}), which is not "
        "allowed"
    ),
    "url_scheme_missing": "scheme: the URL must start with http:// or https://",
    "url_scheme_unsupported": (
        "scheme: only http and https URLs can receive webhooks, not {scheme}:"
    ),
    "url_https_only": "scheme: this server only delivers to https URLs",
    "url_host_missing": "host: the URL must name a host, as in https://example.com/path",
    "url_fragment": "fragment: a webhook URL cannot contain a fragment (#...)",
    "url_credentials": (
        "credentials: user names and passwords in the URL are not allowed; use headers"
    ),
    "url_ipv6_unclosed": "host: an IPv6 address is missing its closing ]",
    "url_ipv6_trailing_text": "host: unexpected text after the IPv6 address",
    "url_ipv6_unbracketed": ("host: write IPv6 addresses in brackets, as in http://[2001:db8::1]/"),
    "url_ipv6_zone": "host: IPv6 zone ids (%...) are not allowed",
    "url_ipv6_invalid": "host: [{address}] is not a valid IPv6 address",
    "url_port_invalid": "port: the port must be a number from 1 to 65535, not '{port}'",
    "url_host_empty": "host: the URL has no host",
    "url_host_percent": "host: percent-encoding is not allowed in the host",
    "url_host_too_long": "host: the host is longer than {limit} characters",
    "url_host_idna": "host: '{host}' is not a valid international host name",
    "url_host_invalid": (
        "host: '{host}' is not a valid host name (letters, digits, hyphens and dots)"
    ),
    "url_host_numeric": "host: '{host}' looks like an IP address but is not a valid one",
    "url_blocked_address": "blocked_address: destination not allowed ({rule}): {explanation}",
    "url_name_loopback": (
        "blocked_name: destination not allowed: {host} always points back at the delivery "
        "server itself"
    ),
    "url_name_metadata": (
        "blocked_name: destination not allowed: {host} is a cloud metadata service name"
    ),
    "url_name_internal": (
        "blocked_name: destination not allowed: {host}: names ending in .{suffix} belong to "
        "private networks"
    ),
    "url_name_own_host": (
        "blocked_name: destination not allowed: {host} is the delivery server's own host name"
    ),
    "url_blocked_on_resolve": (
        "blocked_address: destination not allowed ({rule}): {host} resolves to {explanation}"
    ),
    "url_dns_timeout": (
        "dns_timeout: the name servers of {host} did not answer within {seconds}s, so its "
        "addresses could not be checked; try again later"
    ),
    # 422: signing secrets (core/signing.py), at the `secret` or `key` they were given as
    "secret_empty": "secret is empty",
    "secret_not_base64": "secret is not valid standard base64",
    "secret_not_symmetric": "expected a whsec_ secret, got an ed25519 key",
    "secret_length": "secret must decode to {min} to {max} bytes, got {length}",
    "secret_entropy_length": "entropy must be {min} to {max} bytes",
    "secret_has_no_public_key": "only a whsk_ secret has a public key",
    "ed25519_seed_length": "an ed25519 seed must be 32 bytes",
    "ed25519_secret_length": "a whsk_ secret must hold 32 or 64 bytes",
    "ed25519_halves_differ": "whsk_ secret: public half does not match the seed",
    "ed25519_public_key_length": "a whpk_ key must hold 32 bytes",
    "ed25519_public_key_invalid": "invalid ed25519 public key",
    "no_secrets": "no secrets given",
    "public_key_cannot_sign": "a whpk_ public key cannot sign",
    # 422: the rules of core (names, headers, event-type filters), each at its `loc`
    "uid_characters": "must be 1-256 characters of letters, digits, '-', '_' or '.'",
    "uid_id_prefix": "must not start with '{prefix}', the prefix of generated ids",
    "event_type_name_characters": (
        "event type names are 1-256 characters of letters, digits, '-', '_' or '.'"
    ),
    "channel_characters": (
        "channels are 1-128 characters of letters, digits, '-', '_', '.', ':' or '+'"
    ),
    "tag_characters": (
        "tags are 1-128 characters of letters, digits, '-', '_', '.', '/', '\\' or '#'"
    ),
    "text_empty": "must not be empty",
    "text_too_long": "must be at most {limit} characters",
    "text_control_characters": "must not contain control characters",
    "metadata_too_large": "metadata must be at most {limit} bytes serialized",
    "metadata_control_characters": "metadata must not contain control characters",
    "duplicates": "must not contain duplicates",
    "header_name_invalid": "'{name}' is not a valid header name",
    "header_set_by_hookpost": "'{name}' is set by hookpost and cannot be overridden",
    "header_prefix_reserved": "header names starting with '{prefix}' are reserved",
    "header_value_unprintable": (
        "the value of '{name}' must be printable ASCII (no line breaks or control characters)"
    ),
    "header_value_too_long": "the value of '{name}' must be at most {limit} bytes",
    "too_many_headers": "at most {limit} custom headers are allowed",
    "header_names_repeat": "header names must be unique regardless of case",
    "deliver_at_out_of_range": "deliverAt is out of range",
    "deliver_at_too_far": "deliverAt must be at most {hours} hours in the future",
    "retention_set_twice": "set payloadRetentionPeriod or payloadRetentionHours, not both",
    "not_null": "cannot be null",
    "wildcard_syntax": (
        "'{entry}': wildcards are written as a prefix followed by '.*', e.g. 'invoice.*'"
    ),
}


def english(message_id: str, params: Mapping[str, str | int]) -> str | None:
    """The English of `message_id` with its parameters; None when the table has no line."""
    template = ENGLISH.get(message_id)
    return None if template is None else template.format(**params)
