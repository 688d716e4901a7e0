"""Tenancy in one place: ``request.membership``, looked up at most once per request."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from crm.selectors import membership_for


class MembershipMiddleware:
    """Set ``request.membership``: the requesting user's ``Membership`` (with its
    organisation), or ``None`` for an anonymous user or a user of no organisation.

    Invariants:

    - Lazy: nothing is queried until something reads it (static files, the health
      check and the login page never query), and then one query, cached for the
      rest of the request.
    - The user is read when the membership is first read, not when the request
      comes in. DRF authenticates inside the view and then sets
      ``request._request.user`` (this request), so a token-authenticated API request
      gets its own user's membership: its first reader is the permission check,
      which runs after authentication.
    - It is a lazy proxy: test it by truth (``if request.membership``), never with
      ``is None``, which is false for the proxy even when it stands for ``None``.

    Goes after ``AuthenticationMiddleware``, which sets ``request.user``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.membership = SimpleLazyObject(lambda: membership_for(request.user))  # type: ignore[attr-defined]
        return self.get_response(request)
