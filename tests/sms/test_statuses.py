"""``sms/statuses.py``: the sendout transition table and the one exception to the
message table (a worker's own answer may replace the sweeper's ``unknown`` guess)."""

import pytest

from sms.statuses import (
    MESSAGE_TRANSITIONS,
    SENDOUT_OPEN_STATUSES,
    SENDOUT_TRANSITIONS,
    MessageStatus,
    SendoutStatus,
    allowed_previous,
    sendout_can_move,
)

S = SendoutStatus


@pytest.mark.parametrize(
    ("old", "new", "allowed"),
    [
        (S.QUEUED, S.SENDING, True),
        (S.QUEUED, S.COMPLETED, True),  # nothing to send
        (S.QUEUED, S.CANCELLED, True),
        (S.SENDING, S.COMPLETED, True),
        (S.SENDING, S.CANCELLED, True),
        (S.SENDING, S.QUEUED, False),
        (S.COMPLETED, S.CANCELLED, False),
        (S.COMPLETED, S.SENDING, False),
        (S.CANCELLED, S.SENDING, False),
        (S.CANCELLED, S.COMPLETED, False),
        ("no-such-status", S.SENDING, False),
        (S.SCHEDULED, S.QUEUED, True),  # the dispatcher, at its time
        (S.SCHEDULED, S.CANCELLED, True),
        (S.SCHEDULED, S.SENDING, False),  # a stray dispatch sends nothing early
        (S.SCHEDULED, S.COMPLETED, False),
        (S.QUEUED, S.SCHEDULED, False),
        (S.SENDING, S.PAUSED, True),  # the send window closed
        (S.QUEUED, S.PAUSED, True),
        (S.PAUSED, S.QUEUED, True),  # the window opened: the dispatcher queues it
        (S.PAUSED, S.CANCELLED, True),
        (S.PAUSED, S.SENDING, False),  # a stray dispatch sends nothing while closed
        (S.PAUSED, S.COMPLETED, False),
    ],
)
def test_sendouts_move_only_forward(old: str, new: str, allowed: bool) -> None:
    assert sendout_can_move(old, new) is allowed


def test_every_sendout_status_is_in_its_table_and_only_queued_and_sending_are_open() -> None:
    assert set(SENDOUT_TRANSITIONS) == set(SendoutStatus)
    assert set(SENDOUT_OPEN_STATUSES) == {S.QUEUED, S.SENDING}


@pytest.mark.parametrize("new", [MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.PENDING])
def test_a_late_answer_may_replace_the_sweepers_unknown(new: str) -> None:
    assert MessageStatus.UNKNOWN not in allowed_previous(new)
    assert allowed_previous(new, late_answer=True) == sorted(
        [*allowed_previous(new), MessageStatus.UNKNOWN]
    )


@pytest.mark.parametrize(
    "new", [s for s in MessageStatus if MessageStatus.SENDING not in allowed_previous(s)]
)
def test_late_answer_changes_nothing_for_moves_not_out_of_sending(new: str) -> None:
    assert allowed_previous(new, late_answer=True) == allowed_previous(new)
    assert set(allowed_previous(new)) == {
        old for old, moves in MESSAGE_TRANSITIONS.items() if new in moves
    }
