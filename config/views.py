"""Project-level views: the site root and the answers Django gives before any app's
view runs (``handler400``, ``handler404``)."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.utils.translation import gettext as _
from django.views import defaults


def home(request: HttpRequest) -> HttpResponse:
    """The site root: the contact list, after the login page for a visitor."""
    if not request.user.is_authenticated:
        return redirect("login")
    return redirect("contact-list")


def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``: pages name their icon, but browsers (and the admin, whose
    pages do not) still ask the root for it."""
    return redirect(static("crm/favicon.svg"), permanent=True)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404 for a path no route matches: the API answers JSON like its own 404s."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Not found."), "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """400 for a request Django refuses before any view (too many form fields, a
    suspicious header): the API answers JSON like its own refusals."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Bad request."), "code": "bad_request"}, status=400)
    return defaults.bad_request(request, exception)
