"""One domain error type, turned into an HTTP answer in one place."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class DomainError(Exception):
    """An error a user can cause: a stable ``code`` and a message for people.

    ``status`` is the HTTP status it answers with through the API (409 for a
    conflict with the current state, 403 for something not allowed). ``field``,
    when set, names the input it concerns: the API then answers like a
    serializer's validation error, ``{field: [message]}``.
    """

    status_code = status.HTTP_400_BAD_REQUEST
    field: str | None = None

    def __init__(
        self, code: str, message: str, *, status_code: int | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra
        if status_code is not None:
            self.status_code = status_code


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, plus: domain errors, and a ``code`` beside every ``detail``."""
    if isinstance(exc, DomainError) and exc.field is not None:
        return Response({exc.field: [exc.message]}, status=exc.status_code)
    if isinstance(exc, DomainError):
        return Response(
            {"detail": exc.message, "code": exc.code, **exc.extra}, status=exc.status_code
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = exception_handler(exc, context)
    if response is None:
        return None
    is_detail = isinstance(response.data, dict) and set(response.data) == {"detail"}
    if isinstance(exc, exceptions.APIException) and is_detail:
        codes = exc.get_codes()
        response.data["code"] = codes.get("detail") if isinstance(codes, dict) else codes
    return response
