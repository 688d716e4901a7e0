"""The CRM domain: organisations and their members (tenancy), accounts and contacts.

Owns tenancy (``request.membership`` from ``middleware.py``; the organisation
scoping of pages, the API and the admin) and the contact's SMS opt-out stamp
(``services.contact_opt_out_set``, ``contacts_opt_out_set``).

It imports neither ``targetgroups`` nor ``sms``; project plumbing lives in
``config`` and the web plumbing every app shares in ``core``.
"""
