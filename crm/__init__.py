"""The CRM domain: organisations and their members (tenancy), accounts and contacts.

It imports neither ``targetgroups`` nor ``sms``; project plumbing lives in
``config`` and the web plumbing every app shares in ``core``.
"""
