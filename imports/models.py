"""A CSV import of contacts (#20): the uploaded file, the user's choices, and the
background job's progress and outcome."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.models import Organisation


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded")
    QUEUED = "queued", _("Queued")
    CHECKING = "checking", _("Checking")
    IMPORTING = "importing", _("Importing")
    DONE = "done", _("Done")
    REFUSED = "refused", _("Nothing imported")
    FAILED = "failed", _("Failed")


FINAL_STATUSES = (ImportStatus.DONE, ImportStatus.REFUSED, ImportStatus.FAILED)


class Duplicates(models.TextChoices):
    SKIP = "skip", _("Skip them")
    UPDATE = "update", _("Update the existing contacts")


class ContactImport(models.Model):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="contact_imports"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    file_name = models.CharField(_("file name"), max_length=255)
    # The file itself, so that the worker needs no file system shared with the web.
    data = models.BinaryField(_("file"))
    header = models.JSONField(_("header"), default=list)
    mapping = models.JSONField(_("column mapping"), default=dict)
    country = models.CharField(_("default country"), max_length=2, default="FI")
    duplicates = models.CharField(
        _("duplicates"), max_length=10, choices=Duplicates.choices, default=Duplicates.SKIP
    )
    all_or_none = models.BooleanField(_("nothing if any row has a problem"), default=False)
    target_group = models.ForeignKey(
        "targetgroups.TargetGroup",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("target group"),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=ImportStatus.choices, default=ImportStatus.UPLOADED
    )
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_done = models.PositiveIntegerField(_("rows handled"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    rejected = models.JSONField(_("rows not imported"), default=list)
    error = models.CharField(_("error"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("contact import")
        verbose_name_plural = _("contact imports")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.file_name

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def progress(self) -> int:
        """Percent done: with ``all_or_none`` the check is the first half, the import
        the second; otherwise the import is all of it."""
        if self.status in (ImportStatus.DONE, ImportStatus.REFUSED):
            return 100
        if not self.rows_total or self.status not in (
            ImportStatus.CHECKING,
            ImportStatus.IMPORTING,
        ):
            return 0
        part = min(1.0, self.rows_done / self.rows_total)
        if not self.all_or_none:
            return int(part * 100)
        start = 0 if self.status == ImportStatus.CHECKING else 50
        return start + int(part * 50)
