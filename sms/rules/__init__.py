"""The message rules (DESIGN.md, "Message rules"): pure functions and constants,
no database access and no model import, so that they are fast and can be tested
with hypothesis.

- ``sms.rules.text``: counting, billing, the template body, GSM-7 or UCS-2;
- ``sms.rules.numbers``: phone numbers, phone fields and the skip reasons;
- ``sms.rules.senders``: sender names, the sender a user may choose, and who
  a sendout's messages come from.

The tag language lives beside these in ``sms/tags.py``. Every rule a user can
break raises ``RuleError``, a ``DomainError`` with a stable ``code``, a message
for people, and the ``field`` it concerns, which the API's exception handler
turns into a 400 at that field.
"""

from __future__ import annotations

from core.errors import DomainError


class RuleError(DomainError):
    """A message rule the user broke: a stable ``code``, a ``message`` for people.

    ``field`` names the input it concerns ("body", "sender", "phone_field"), so
    that the API's one exception handler answers 400 at that field. ``extra``
    holds details (e.g. ``tag`` for a template error).
    """

    def __init__(self, code: str, message: str, *, field: str | None = None, **extra: object):
        super().__init__(code, message, **extra)
        self.field = field

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, field={self.field!r})"
