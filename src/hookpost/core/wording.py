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
    "url_blocked_on_resolve": (
        "blocked_address: destination not allowed ({rule}): {host} resolves to {explanation}"
    ),
    "url_dns_timeout": (
        "dns_timeout: the name servers of {host} did not answer within {seconds}s, so its "
        "addresses could not be checked; try again later"
    ),
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
