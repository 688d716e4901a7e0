"""Celery task of the CSV import: loads the id and calls the service."""

from celery import shared_task

from imports import services


@shared_task(name="imports.tasks.contact_import_run", acks_late=True)
def contact_import_run_task(contact_import_id: int) -> str:
    return services.contact_import_run(contact_import_id=contact_import_id)
