"""CSV import of contacts as a background job (#20): upload, start, run.

The rows are read and written by ``crm.imports``; this module keeps the job (the
file, the user's choices, progress, outcome) and adds the imported contacts to a
target group when asked. The import itself is one transaction: contacts, group
membership and the job's outcome are written together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from celery import current_app
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from crm import imports, numberfix
from crm.models import Organisation
from imports.models import ContactImport, Duplicates, ImportStatus
from targetgroups.models import TargetGroup
from targetgroups.services import target_group_include_contacts

INCLUDE_BATCH = 5000
RUN_TASK = "imports.tasks.contact_import_run"


def contact_import_upload(
    *, organisation: Organisation, user: Any, file_name: str, data: bytes
) -> ContactImport:
    """Keep an uploaded CSV file with its header and the mapping suggested from it.
    A file that is not UTF-8 CSV, is empty or has too many rows is refused."""
    header, _rows = imports.reader(imports.decode(data))
    total = imports.count_rows(data)
    mapping = imports.suggest_mapping(header)
    return ContactImport.objects.create(
        organisation=organisation,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        file_name=(file_name or "contacts.csv")[:255],
        data=data,
        header=header,
        mapping={str(i): name for i, name in mapping.items()},
        rows_total=total,
    )


def mapping_from(raw: Any, header: list[str]) -> dict[int, str]:
    """``{"0": "first_name", ...}`` (column index → field; empty fields left out) as the
    service takes it; anything else is an ``invalid_mapping`` error."""
    message = _("Map at least one column to a contact field.")
    if not isinstance(raw, dict):
        raise DomainError("invalid_mapping", message, mapping=[message])
    mapping: dict[int, str] = {}
    for key, name in raw.items():
        if name in ("", None):
            continue
        text = str(key)
        if not text.isdigit() or len(text) > 6 or not isinstance(name, str):
            bad = _("The mapping names a column the file does not have.")
            raise DomainError("invalid_mapping", bad, mapping=[bad])
        mapping[int(text)] = name
    imports.mapping_check(mapping, header)
    return mapping


def country_check(country: Any) -> str:
    code = str(country or "").upper()
    if code not in numberfix.countries():
        message = _("Choose a country from the list.")
        raise DomainError("invalid_country", message, country=[message])
    return code


@transaction.atomic
def contact_import_start(
    *,
    contact_import: ContactImport,
    mapping: Any,
    country: Any = numberfix.DEFAULT_COUNTRY,
    duplicates: Any = Duplicates.SKIP,
    all_or_none: bool = False,
    target_group_id: int | None = None,
) -> ContactImport:
    """Check the choices, queue the import (the worker starts it once this commits).
    An import starts once: a second start is a ``409 already_started``."""
    job = ContactImport.objects.select_for_update().get(pk=contact_import.pk)
    if job.status != ImportStatus.UPLOADED:
        raise DomainError(
            "already_started", _("This import has already been started."), status_code=409
        )
    checked = mapping_from(mapping, job.header)
    code = country_check(country)
    if duplicates not in Duplicates.values:
        message = _("Choose whether duplicates are skipped or update the existing contacts.")
        raise DomainError("invalid_duplicates", message, duplicates=[message])
    group = None
    if target_group_id is not None:
        group = TargetGroup.objects.filter(
            organisation=job.organisation, pk=target_group_id
        ).first()
        if group is None:
            message = _("No such target group in your organisation.")
            raise DomainError("invalid_target_group", message, target_group=[message])
    job.mapping = {str(i): name for i, name in sorted(checked.items())}
    job.country = code
    job.duplicates = duplicates
    job.all_or_none = bool(all_or_none)
    job.target_group = group
    job.status = ImportStatus.QUEUED
    job.save()
    # By name, as sms.sendouts does: the task module imports this one.
    transaction.on_commit(lambda: current_app.send_task(RUN_TASK, args=[job.pk]))
    return job


def _set(pk: int, **fields: Any) -> None:
    ContactImport.objects.filter(pk=pk).update(updated_at=timezone.now(), **fields)


@contextmanager
def _progress_beside_the_transaction(pk: int) -> Iterator[Callable[[int], None]]:
    """Progress written on a connection of its own, so that the page sees it while the
    import's transaction is open. PostgreSQL only: SQLite has one writer at a time, so
    there the progress jumps at the end. The transaction must not touch the job's row
    before this is closed (the side connection would wait for its lock)."""
    if connection.vendor != "postgresql":
        yield lambda done: None
        return
    side = connections.create_connection(DEFAULT_DB_ALIAS)
    table = ContactImport._meta.db_table

    def report(done: int) -> None:
        with side.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET rows_done = %s, updated_at = now() WHERE id = %s",
                [done, pk],
            )

    try:
        yield report
    finally:
        side.close()


class _Refused(Exception):
    """Rows with problems in an all-or-none import: roll back."""

    def __init__(self, rejected: list[dict[str, Any]]) -> None:
        self.rejected = rejected


def contact_import_run(*, contact_import_id: int) -> str:
    """Run a queued import (a second delivery of the task finds it taken and returns).
    With ``all_or_none`` every row is checked first and nothing is written when any
    has a problem; then, in one transaction, the rows are written, duplicates skipped
    or updated, the contacts included in the target group, and the outcome recorded."""
    first = ImportStatus.CHECKING if _all_or_none(contact_import_id) else ImportStatus.IMPORTING
    claimed = ContactImport.objects.filter(pk=contact_import_id, status=ImportStatus.QUEUED).update(
        status=first, rows_done=0, updated_at=timezone.now()
    )
    if not claimed:
        return "taken"
    job = ContactImport.objects.get(pk=contact_import_id)
    data = bytes(job.data)
    mapping = {int(i): name for i, name in job.mapping.items()}
    try:
        if job.all_or_none:
            rejected = imports.contacts_check(
                organisation=job.organisation,
                data=data,
                mapping=mapping,
                country=job.country,
                progress=lambda done: _set(job.pk, rows_done=done),
            )
            if rejected:
                return _refuse(job, rejected)
            _set(job.pk, status=ImportStatus.IMPORTING, rows_done=0)
        with transaction.atomic():
            with _progress_beside_the_transaction(job.pk) as progress:
                result = imports.contacts_import(
                    organisation=job.organisation,
                    data=data,
                    mapping=mapping,
                    country=job.country,
                    duplicates=job.duplicates,
                    all_or_none=False,
                    progress=progress,
                )
            problems = [r for r in result.rejected if not r.get("duplicate")]
            if job.all_or_none and problems:
                raise _Refused(problems)
            if job.target_group_id and result.contact_ids:
                group = TargetGroup.objects.get(pk=job.target_group_id)
                ids = result.contact_ids
                for start in range(0, len(ids), INCLUDE_BATCH):
                    target_group_include_contacts(
                        target_group=group, contact_ids=ids[start : start + INCLUDE_BATCH]
                    )
            _set(
                job.pk,
                status=ImportStatus.DONE,
                rows_done=job.rows_total,
                created=result.created,
                updated=result.updated,
                skipped=result.skipped,
                rejected=result.rejected,
                finished_at=timezone.now(),
            )
    except _Refused as refused:
        return _refuse(job, refused.rejected)
    except DomainError as exc:
        _set(
            job.pk, status=ImportStatus.FAILED, error=exc.message[:500], finished_at=timezone.now()
        )
        return ImportStatus.FAILED
    return ImportStatus.DONE


def _all_or_none(pk: int) -> bool:
    return bool(ContactImport.objects.filter(pk=pk).values_list("all_or_none", flat=True).first())


def _refuse(job: ContactImport, rejected: list[dict[str, Any]]) -> str:
    _set(
        job.pk,
        status=ImportStatus.REFUSED,
        rejected=rejected,
        finished_at=timezone.now(),
    )
    return ImportStatus.REFUSED
