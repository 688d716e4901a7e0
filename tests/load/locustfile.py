"""Locust users for the load run (tests/load/test_load.py starts it headless).

Each simulated user is one CRM user of one organisation (``Authorization: Token``):
it opens the SMS modal (options), previews a message as it types, and confirms
with the count the preview showed (``expected_messages``) and an
``Idempotency-Key``; now and then it double-clicks (the same key again, which
must answer the same sendout), watches its sendout and reads the quota.

Configuration through the environment (set by the test):
``LOAD_ACCOUNTS`` a JSON file ``[{"token", "target_group", "organisation"}]``, and
``LOAD_REPORT`` the JSON file this writes when Locust quits: totals, latency
percentiles, answers by status code, and every accepted sendout with the messages
the user confirmed.

Expected refusals count as successes for Locust: 409 ``insufficient_quota`` (the
quota fits only part of the attempts) and 429 (the per-user rate limit). Any 5xx,
any other answer, and a double click answered with another sendout are failures.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import random
import threading
import uuid

from locust import HttpUser, between, events, task

ACCOUNTS = json.load(open(os.environ["LOAD_ACCOUNTS"]))  # noqa: SIM115 (read once at import)
REPORT = os.environ["LOAD_REPORT"]
BODIES = [
    "Hei {{contact.first_name}}, kevään kampanja alkaa maanantaina!",
    "Hei {{contact.first_name|ystävä}}! Tervetuloa messuille, osasto B12. "
    "Varaa aika myyjällemme ja kuule uutuuksista ensimmäisten joukossa, kahvi tarjotaan. "
    "Ilmoittaudu vastaamalla tähän viestiin. Terveisin {{account.name|myyntitiimi}}",
]

_lock = threading.Lock()
_next_account = itertools.count()
status_codes: collections.Counter[str] = collections.Counter()
accepted: dict[int, dict[str, object]] = {}
refused: collections.Counter[str] = collections.Counter()


def _count(name: str, response) -> None:
    with _lock:
        status_codes[f"{name} {response.status_code}"] += 1


class CrmUser(HttpUser):
    wait_time = between(0.05, 0.3)

    def on_start(self) -> None:
        with _lock:
            account = ACCOUNTS[next(_next_account) % len(ACCOUNTS)]
        self.target_group = account["target_group"]
        self.organisation = account["organisation"]
        self.client.headers["Authorization"] = f"Token {account['token']}"
        self.last_sendout: int | None = None

    def _check(self, name: str, response, *expected: int) -> bool:
        _count(name, response)
        if response.status_code in expected:
            response.success()
            return True
        response.failure(f"{name}: {response.status_code} {response.text[:200]}")
        return False

    @task(10)
    def preview_and_send(self) -> None:
        base = f"/api/v1/target-groups/{self.target_group}/sms"
        with self.client.get(f"{base}/options/", name="options", catch_response=True) as answer:
            if not self._check("options", answer, 200, 429):
                return
        body = random.choice(BODIES)
        form = {"sender": "operator", "phone_field": "mobile_phone", "body": body}
        messages = None
        for typed in (body[: len(body) // 2], body):  # previews as the user types
            with self.client.post(
                f"{base}/preview/",
                json={**form, "body": typed},
                name="preview",
                catch_response=True,
            ) as answer:
                # Half a tag is a 400 while typing; the whole body must preview.
                allowed = (200, 429) if typed == body else (200, 400, 429)
                if not self._check("preview", answer, *allowed):
                    return
                if answer.status_code == 200:
                    messages = answer.json()["messages"]
        if messages is None:
            return
        key = uuid.uuid4().hex
        payload = {**form, "expected_messages": messages}
        first = self._send(base, payload, key)
        if first is not None and random.random() < 0.2:
            self._send(base, payload, key, name="send (double click)", expect=first)

    def _send(
        self, base: str, payload: dict, key: str, name: str = "send", expect: int | None = None
    ) -> int | None:
        """Confirm; answers the accepted sendout's id. ``expect``: a double click must
        answer this sendout."""
        with self.client.post(
            f"{base}/sendouts/",
            json=payload,
            headers={"Idempotency-Key": key},
            name=name,
            catch_response=True,
        ) as answer:
            _count(name, answer)
            if answer.status_code == 202:
                sendout = answer.json()
                with _lock:
                    seen = accepted.setdefault(
                        sendout["id"],
                        {"messages": payload["expected_messages"], "key": key, "answers": 0},
                    )
                    seen["answers"] += 1
                if seen["key"] != key or expect not in (None, sendout["id"]):
                    answer.failure(f"{name}: key {key} answered sendout {sendout['id']}")
                    return None
                self.last_sendout = sendout["id"]
                answer.success()
                return sendout["id"]
            if answer.status_code == 409 and answer.json().get("code") == "insufficient_quota":
                with _lock:
                    refused["insufficient_quota"] += 1
                answer.success()
                return None
            if answer.status_code == 429:
                answer.success()
                return None
            answer.failure(f"{name}: {answer.status_code} {answer.text[:200]}")
            return None

    @task(2)
    def watch_sendout(self) -> None:
        if self.last_sendout is None:
            return
        with self.client.get(
            f"/api/v1/sms/sendouts/{self.last_sendout}/", name="sendout", catch_response=True
        ) as answer:
            self._check("sendout", answer, 200)

    @task(1)
    def read_quota(self) -> None:
        with self.client.get("/api/v1/sms/quota/", name="quota", catch_response=True) as answer:
            if self._check("quota", answer, 200) and answer.json()["remaining"] < 0:
                answer.failure("the quota is overdrawn")


@events.quitting.add_listener
def write_report(environment, **_kwargs) -> None:
    total = environment.stats.total
    report = {
        "requests": total.num_requests,
        "failures": total.num_failures,
        "p50_ms": total.get_response_time_percentile(0.5),
        "p95_ms": total.get_response_time_percentile(0.95),
        "max_ms": total.max_response_time,
        "rps": total.total_rps,
        "status_codes": dict(status_codes),
        "server_errors": sum(n for key, n in status_codes.items() if key.split()[-1][0] == "5"),
        "accepted": {str(sendout_id): seen for sendout_id, seen in accepted.items()},
        "refused": dict(refused),
        "exceptions": [
            str(exception["msg"]) for exception in (environment.runner.exceptions or {}).values()
        ]
        if environment.runner is not None
        else [],
        "errors": [
            {"name": error.name, "error": str(error.error), "occurrences": error.occurrences}
            for error in environment.stats.errors.values()
        ],
    }
    with open(REPORT, "w") as out:
        json.dump(report, out, indent=1)
