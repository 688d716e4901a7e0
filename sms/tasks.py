"""Celery tasks: thin wrappers that load ids and call services."""

from collections import defaultdict

from celery import shared_task

from sms import services


@shared_task(name="sms.tasks.sendout_dispatch", acks_late=True)
def sendout_dispatch(sendout_id: int) -> int:
    chunks = services.sendout_dispatch(sendout_id=sendout_id)
    for chunk in chunks:
        sendout_send_chunk.delay(sendout_id, chunk)
    return len(chunks)


@shared_task(name="sms.tasks.sendout_send_chunk", acks_late=True)
def sendout_send_chunk(sendout_id: int, message_ids: list[int]) -> int:
    retries = services.sendout_send_chunk(sendout_id=sendout_id, message_ids=message_ids)
    by_delay: dict[int, list[int]] = defaultdict(list)
    for message_id, delay in retries.items():
        by_delay[round(delay)].append(message_id)
    for delay, ids in by_delay.items():
        sendout_send_chunk.apply_async(args=[sendout_id, ids], countdown=delay)
    return len(retries)


@shared_task(name="sms.tasks.sweep")
def sweep() -> int:
    lost = services.sweep_stuck_messages()
    for sendout_id in lost:
        sendout_dispatch.delay(sendout_id)
    return len(lost)
