"""Twilio webhooks, the HTTP edge: status callbacks and inbound replies. No
session; the Twilio signature is checked against the configured public URL, else
403. Twilio's words are translated here (``sms.backends.twilio.message_status``)
before ``sms.delivery`` sees them."""

from xml.sax.saxutils import escape

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from sms import delivery, replies
from sms.backends import twilio


def _signature_ok(request: HttpRequest) -> bool:
    base = settings.SMS_STATUS_CALLBACK_BASE_URL
    token = settings.TWILIO_AUTH_TOKEN
    signature = request.headers.get("X-Twilio-Signature", "")
    if not (base and token and signature):
        return False
    url = base.rstrip("/") + request.get_full_path()
    # The QueryDict itself: Twilio signs every value of a repeated parameter.
    return RequestValidator(token).validate(url, request.POST, signature)


def _message_id(request: HttpRequest) -> int | None:
    value = request.GET.get("message", "")
    return int(value) if value.isdigit() and len(value) < 19 else None


def _holds_nul(request: HttpRequest, *names: str) -> bool:
    # PostgreSQL cannot compare or store a NUL character (DataError, a 500).
    return any("\x00" in value for name in names for value in request.POST.getlist(name))


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    if not _signature_ok(request):
        return HttpResponseForbidden()
    if _holds_nul(request, "MessageSid", "MessageStatus", "ErrorCode"):
        return HttpResponseBadRequest()
    delivery.message_status_from_provider(
        provider_id=request.POST.get("MessageSid", ""),
        status=twilio.message_status(request.POST.get("MessageStatus", "")),
        error_code=request.POST.get("ErrorCode", ""),
        message_id=_message_id(request),
    )
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    if not _signature_ok(request):
        return HttpResponseForbidden()
    if _holds_nul(request, "From", "To", "MessagingServiceSid", "MessageSid"):
        return HttpResponseBadRequest()
    if not delivery.is_keyword(request.POST.get("Body", "")):
        # Not the keyword handler's: a reply to keep with the contact and sendout.
        replies.reply_receive(
            from_number=request.POST.get("From", ""),
            body=request.POST.get("Body", ""),
            to=request.POST.get("To", ""),
            messaging_service_sid=request.POST.get("MessagingServiceSid", ""),
            provider_id=request.POST.get("MessageSid", ""),
        )
    outcome = delivery.inbound_reply(
        from_number=request.POST.get("From", ""),
        body=request.POST.get("Body", ""),
        to=request.POST.get("To", ""),
        messaging_service_sid=request.POST.get("MessagingServiceSid", ""),
    )
    # TwiML: the confirmation of a keyword in the contact's language, else nothing.
    message = f"<Message>{escape(outcome.confirmation)}</Message>" if outcome.confirmation else ""
    return HttpResponse(
        f'<?xml version="1.0" encoding="UTF-8"?><Response>{message}</Response>',
        content_type="text/xml",
    )
