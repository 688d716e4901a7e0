"""Template context of the SMS app on every page: the unread replies of the
signed-in member, for the navigation's Replies link."""

from django.http import HttpRequest

from sms.replies import unread_count


def replies_unread(request: HttpRequest) -> dict:
    membership = getattr(request, "membership", None)
    if membership is None or not request.user.is_authenticated:
        return {}
    # Lazy: a page that does not show the navigation does not count.
    return {
        "sms_replies_unread": lambda: unread_count(
            organisation=membership.organisation, user=request.user
        )
    }
