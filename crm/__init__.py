"""The CRM core: organisations (the tenants), their members, accounts and contacts.

Owns tenancy (``request.membership`` from ``middleware.py``; the organisation
scoping of pages, the API and the admin) and the contact's SMS opt-out stamp
(``services.contact_opt_out_set``, ``contacts_opt_out_set``). It imports neither
``targetgroups`` nor ``sms``.
"""

from crm.celery import app as celery_app

__all__ = ("celery_app",)
