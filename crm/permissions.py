from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from crm.selectors import membership_for


class IsOrganisationMember(BasePermission):
    """Signed in and a member of an organisation; writing needs a role that may write."""

    message = _("You are not a member of an organisation that may do this.")

    def has_permission(self, request: Request, view: object) -> bool:
        membership = membership_for(request.user)
        if membership is None:
            return False
        return request.method in SAFE_METHODS or membership.can_write
