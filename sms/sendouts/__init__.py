"""Sendouts: creating one (reserving the quota), sending it, cancelling it,
recovering it after a crash. One module per use case:

- ``create``: validate, resolve the recipients, reserve the quota, write the
  messages, enqueue the sending on commit;
- ``send``: dispatch into chunks, claim, send, record the outcomes, refund what
  failed, schedule retries (``sendout_run_chunk`` is the worker's driver);
- ``lifecycle``: finish, cancel, sweep what crashes left behind;
- ``common``: log ids, and handing work to the workers by task name (so that no
  service imports ``sms.tasks``).

Invariants kept here:
- A recipient is texted at most once: a message is sent only after it was
  claimed by a conditional update from ``pending`` to ``sending``; a message seen
  in ``sending`` by anyone else is never sent again (it ends as ``unknown``).
- The quota is reserved for the whole sendout in the transaction that creates it,
  and refunded for every message that never left (skipped at send time,
  rejected, cancelled, out of retries). ``unknown`` and accepted messages stay charged.
- Statuses only move forward: every status change is a conditional update on
  the statuses ``sms.statuses`` lets move to the new one (``allowed_previous``).
"""
