"""The API's JSON parser: DRF's, with limits on what it hands to the views."""

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

# Deeper than any request of this API needs (a condition's list of values is 4 deep);
# far below where Python's recursion (the parser's, the serializers') would give out.
MAX_JSON_DEPTH = 32


def text_error(value: str) -> str | None:
    """Why a text cannot be stored or searched for: PostgreSQL refuses NUL characters,
    and a lone UTF-16 surrogate (``"\\ud800"`` in JSON) is no character at all."""
    if "\x00" in value:
        return _("Text cannot contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _("Text cannot contain unpaired surrogate characters.")
    return None


def json_data_error(data: Any) -> str | None:
    """Why parsed JSON is refused: nested deeper than ``MAX_JSON_DEPTH``, or a string
    (a key or a value) holding a NUL character, which PostgreSQL cannot store, or a
    lone UTF-16 surrogate (``"\\ud800"``), which is no character at all. Walked
    without recursion, so depth itself cannot make it fail."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            error = text_error(value)
            if error:
                return error
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                return _("JSON is nested more than %(max)s levels deep.") % {"max": MAX_JSON_DEPTH}
            items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
            for key, item in items:
                if key is not None:
                    stack.append((key, depth))
                stack.append((item, depth + 1))
    return None


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; NUL characters, lone surrogates and deep nesting answer 400
    (``{"detail", "code": "parse_error"}``) for every JSON endpoint, before any view."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(
                _("JSON is nested more than %(max)s levels deep.") % {"max": MAX_JSON_DEPTH}
            ) from exc
        error = json_data_error(data)
        if error:
            raise ParseError(error)
        return data
