from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request


class IsOrganisationMember(BasePermission):
    """Signed in and a member of an organisation; writing needs a role that may write."""

    message = _("You are not a member of an organisation that may do this.")

    def has_permission(self, request: Request, view: object) -> bool:
        # Read after DRF's authentication: the token's user, not the session's.
        membership = request.membership  # type: ignore[attr-defined]
        if not membership:
            return False
        return request.method in SAFE_METHODS or membership.can_write
