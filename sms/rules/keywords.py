"""Opt-out and opt-in keywords of inbound replies in Finnish, Swedish and
English, matched loosely: case, punctuation and a few words after the keyword do
not matter ("Lopeta.", "stop kiitos", "SLUTA tack"). Pure: no database access."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

STOP_WORDS: dict[str, str] = {
    # English (and Twilio's standard keywords)
    "STOP": "en",
    "STOPALL": "en",
    "UNSUBSCRIBE": "en",
    "CANCEL": "en",
    "END": "en",
    "QUIT": "en",
    "OPTOUT": "en",
    # Finnish
    "LOPETA": "fi",
    "LOPPU": "fi",
    "POISTA": "fi",
    # Swedish
    "SLUTA": "sv",
    "STOPP": "sv",
    "AVSLUTA": "sv",
    "AVREGISTRERA": "sv",
}
"""Each word that opts the number out, with the language it belongs to."""

START_WORDS: dict[str, str] = {"START": "en", "UNSTOP": "en", "ALOITA": "fi", "STARTA": "sv"}

MAX_WORDS = 4
"""A reply of more words is a message, not a keyword ("stop by on Friday?")."""

_NOT_WORD = re.compile(r"[^\w]+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Keyword:
    action: Literal["stop", "start"]
    language: str  # "fi", "sv" or "en": the keyword's language


def keyword_of(body: str) -> Keyword | None:
    """The keyword a reply starts with, or None: the first word of at most
    ``MAX_WORDS``, without case and punctuation ("Lopeta.", "stop kiitos")."""
    words = _NOT_WORD.sub(" ", body).upper().split()
    if not words or len(words) > MAX_WORDS:
        return None
    first = words[0]
    if first in STOP_WORDS:
        return Keyword("stop", STOP_WORDS[first])
    if first in START_WORDS:
        return Keyword("start", START_WORDS[first])
    return None
