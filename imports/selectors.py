"""Reading contact imports: what the pages and the API show of them."""

from django.db.models import QuerySet

from crm.models import Organisation
from imports.models import ContactImport

RECENT_SHOWN = 10


def import_list(*, organisation: Organisation) -> QuerySet[ContactImport]:
    """The organisation's imports, newest first, without their uploaded file."""
    return ContactImport.objects.defer("data").filter(organisation=organisation)


def import_recent(*, organisation: Organisation) -> QuerySet[ContactImport]:
    """The last ``RECENT_SHOWN`` imports for the upload page: no file, no rejected rows."""
    return import_list(organisation=organisation).defer("rejected")[:RECENT_SHOWN]


def import_data(*, job: ContactImport) -> bytes:
    """The uploaded file of ``job`` (left out of the lists above)."""
    return bytes(ContactImport.objects.values_list("data", flat=True).get(pk=job.pk))
