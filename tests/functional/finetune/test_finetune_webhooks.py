"""OpenAI webhook deliveries: signatures verified with the openai package, repeats recognised."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra.fakes.openai_server import new_webhook_secret, sign_webhook, webhook_delivery
from shared.finetune.exceptions import WebhookRejected
from shared.finetune.webhooks import DeliveryLog, WebhookVerifier

SECRET = new_webhook_secret()


def test_valid_delivery_is_parsed():
    body, headers = webhook_delivery("fine_tuning.job.succeeded", "ftjob-abc", SECRET, event_id="evt_1")
    event = WebhookVerifier(SECRET).verify(body, headers)
    assert (event.type, event.job_id, event.delivery_id, event.event_id) == (
        "fine_tuning.job.succeeded",
        "ftjob-abc",
        "evt_1",
        "evt_1",
    )
    assert event.is_fine_tuning


def test_header_names_are_case_insensitive():
    body, headers = webhook_delivery("fine_tuning.job.failed", "ftjob-abc", SECRET)
    upper = {k.title(): v for k, v in headers.items()}
    assert WebhookVerifier(SECRET).verify(body, upper).type == "fine_tuning.job.failed"


def test_altered_body_is_rejected():
    body, headers = webhook_delivery("fine_tuning.job.failed", "ftjob-abc", SECRET)
    altered = body.replace(b"failed", b"succeeded")
    with pytest.raises(WebhookRejected):
        WebhookVerifier(SECRET).verify(altered, headers)


def test_altered_signature_and_wrong_secret_are_rejected():
    body, headers = webhook_delivery("fine_tuning.job.succeeded", "ftjob-abc", SECRET)
    sig = headers["webhook-signature"]
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    with pytest.raises(WebhookRejected):
        WebhookVerifier(SECRET).verify(body, {**headers, "webhook-signature": flipped})
    with pytest.raises(WebhookRejected):
        WebhookVerifier(new_webhook_secret()).verify(body, headers)
    with pytest.raises(WebhookRejected):  # the id is part of what is signed
        WebhookVerifier(SECRET).verify(body, {**headers, "webhook-id": "evt_other"})


def test_stale_and_future_deliveries_are_rejected():
    old = int(time.time()) - 301
    body, headers = webhook_delivery("fine_tuning.job.succeeded", "ftjob-abc", SECRET, timestamp=old)
    with pytest.raises(WebhookRejected) as info:
        WebhookVerifier(SECRET).verify(body, headers)
    assert "too old" in str(info.value)
    body, headers = webhook_delivery(
        "fine_tuning.job.succeeded", "ftjob-abc", SECRET, timestamp=int(time.time()) + 600
    )
    with pytest.raises(WebhookRejected):
        WebhookVerifier(SECRET).verify(body, headers)
    recent = int(time.time()) - 200
    body, headers = webhook_delivery("fine_tuning.job.succeeded", "ftjob-abc", SECRET, timestamp=recent)
    assert WebhookVerifier(SECRET).verify(body, headers).job_id == "ftjob-abc"


def test_missing_headers_are_rejected():
    body, headers = webhook_delivery("fine_tuning.job.succeeded", "ftjob-abc", SECRET)
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        with pytest.raises(WebhookRejected):
            WebhookVerifier(SECRET).verify(body, {k: v for k, v in headers.items() if k != name})


def test_signed_body_that_is_not_an_event_is_rejected():
    body = b'{"hello": "world"}'
    headers = sign_webhook(body, SECRET, webhook_id="evt_x", timestamp=int(time.time()))
    with pytest.raises(WebhookRejected):
        WebhookVerifier(SECRET).verify(body, headers)


class LambdaContext:
    """The part of Lambda's context Powertools reads: 30 s left, the webhook function's timeout."""

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def test_repeated_delivery_is_recognised(aws):
    body, headers = webhook_delivery("fine_tuning.job.succeeded", "ftjob-abc", SECRET, event_id="evt_rep")
    ddb, table = aws.clients.dynamodb, aws.settings.idempotency_table
    verifier = WebhookVerifier(SECRET)
    first = verifier.verify(body, headers)
    again = verifier.verify(body, headers)  # the service redelivers the same signed event
    log, handled = DeliveryLog(table, ddb), []

    def handle(event):
        handled.append(event.job_id)
        return "succeeded"

    assert log.handle_once(first, handle, lambda_context=LambdaContext()) == "succeeded"
    assert log.handle_once(again, handle, lambda_context=LambdaContext()) is None
    assert handled == ["ftjob-abc"]
    (item,) = ddb.scan(TableName=table)["Items"]
    assert item["id"]["S"].startswith("openai-webhook") and item["status"]["S"] == "COMPLETED"
    assert int(item["expiration"]["N"]) > time.time()


def test_a_delivery_whose_handling_failed_is_handled_again(aws):
    body, headers = webhook_delivery("fine_tuning.job.succeeded", "ftjob-abc", SECRET, event_id="evt_fail")
    event = WebhookVerifier(SECRET).verify(body, headers)
    log = DeliveryLog(aws.settings.idempotency_table, aws.clients.dynamodb)

    def fail(_event):
        raise RuntimeError("provider down")

    with pytest.raises(RuntimeError):
        log.handle_once(event, fail, lambda_context=LambdaContext())
    assert log.handle_once(event, lambda e: "succeeded", lambda_context=LambdaContext()) == "succeeded"


def test_fake_server_delivers_signed_webhooks_to_a_receiver(fake_openai, openai_client):
    received = []
    verifier = WebhookVerifier(SECRET)

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            try:
                received.append(verifier.verify(body, dict(self.headers.items())))
                self.send_response(200)
            except WebhookRejected:
                self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/openai"
        fake_openai.webhook_url, fake_openai.webhook_secret = url, SECRET
        # OpenAI's minimum of 10 examples.
        lines = "".join(json.dumps({"messages": [{"role": "user", "content": f"a{i}"},
                                                 {"role": "assistant", "content": "b"}]}) + "\n" for i in range(10))
        f = openai_client.files.create(file=("t.jsonl", lines.encode(), "text/jsonl"), purpose="fine-tune")
        job = openai_client.fine_tuning.jobs.create(model="gpt-4.1-mini-2025-04-14", training_file=f.id)
        for _ in range(3):
            openai_client.fine_tuning.jobs.retrieve(job.id)
        deadline = time.time() + 5
        while not received and time.time() < deadline:
            time.sleep(0.02)
        assert [(e.type, e.job_id) for e in received] == [("fine_tuning.job.succeeded", job.id)]
        assert fake_openai.send_webhook(url, "fine_tuning.job.cancelled", job.id, new_webhook_secret()) == 400
    finally:
        server.shutdown()
        server.server_close()
