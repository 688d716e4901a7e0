"""The SMS part of the HTTP API: thin views over selectors and services."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api import OrganisationScopedMixin
from sms import selectors
from sms.models import QuotaTransaction
from sms.serializers import QuotaSerializer, QuotaTransactionSerializer


class QuotaView(OrganisationScopedMixin, generics.GenericAPIView):
    """The organisation's message quota and its ledger, latest first.

    Answers ``remaining`` and one page of ``transactions`` with the page's
    ``count``, ``next`` and ``previous`` beside them (``?page=``, ``?page_size=``).
    """

    serializer_class = QuotaTransactionSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return QuotaTransaction.objects.none()
        return selectors.quota_transaction_list(organisation=self.organisation)

    @extend_schema(responses=QuotaSerializer)
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        paginator = self.paginator
        return Response(
            {
                "remaining": selectors.quota_balance(organisation=self.organisation),
                "count": paginator.page.paginator.count,
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
                "transactions": self.get_serializer(page, many=True).data,
            }
        )
