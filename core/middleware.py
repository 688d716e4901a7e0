"""Requests refused before any view reads them."""

from collections.abc import Callable

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse


def _has_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path:
        return True
    return any(
        "\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()
    )


class RefuseNulMiddleware:
    """A NUL character in the path or the query string (``?q=%00``) answers 400.

    PostgreSQL cannot hold NUL in a text value and raises ``DataError`` (a 500)
    when one reaches a query, so every search, filter and path parameter is
    refused here, once, before any view runs. The answer is ``handler400``'s:
    JSON ``{"detail", "code": "bad_request"}`` under /api/, the 400 page elsewhere.
    JSON bodies are checked by ``core.parsers.JSONParser``; form fields by Django's
    and DRF's own ``CharField`` validators.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _has_nul(request):
            raise BadRequest("NUL character in the path or query string")
        return self.get_response(request)
