"""Celery tasks: each loads ids and calls one service, which does the step and
hands any follow-up work (chunks, retries, lost sendouts) to the workers itself."""

from celery import shared_task

from sms import schedule
from sms.sendouts import lifecycle, send


@shared_task(name="sms.tasks.sendout_dispatch", acks_late=True)
def sendout_dispatch(sendout_id: int) -> int:
    return send.sendout_run_dispatch(sendout_id=sendout_id)


@shared_task(name="sms.tasks.sendout_write", acks_late=True)
def sendout_write(sendout_id: int) -> int:
    return send.sendout_run_write(sendout_id=sendout_id)


@shared_task(name="sms.tasks.sendout_send_chunk", acks_late=True)
def sendout_send_chunk(sendout_id: int, message_ids: list[int]) -> int:
    return send.sendout_run_chunk(sendout_id=sendout_id, message_ids=message_ids)


@shared_task(name="sms.tasks.sweep")
def sweep() -> int:
    return lifecycle.sendout_run_sweep()


@shared_task(name="sms.tasks.start_due")
def start_due() -> int:
    return len(schedule.sendouts_start_due())
