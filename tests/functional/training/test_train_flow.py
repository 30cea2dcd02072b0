"""/train and /select_dataset through the signed app, the jobs queue, the worker and the fake Discord."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile

from infra import interactions as build
from shared.contracts.enqueue import enqueue_task
from shared.contracts.messages import InteractionRef, TaskRequest
from shared.discord.attachment_rules import AttachmentHostNotAllowed, AttachmentRedirected
from shared.finetune.catalog import load_catalog
from tests.conftest import APPLICATION_ID
from tests.functional.training.conftest import GUILD, TRAINER, chat_line


def test_train_with_a_jsonl_attachment_end_to_end(stack):
    body = b"\n".join([chat_line("What is 2+2?", "4"), b'{"messages": [}', chat_line("Capital of France?", "Paris"),
                       json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()])
    interaction = stack.command("train", {"dataset": "faq"}, file=stack.attachment("data.jsonl", body))

    stack.deferred(interaction)
    # The interactions function only queued the attachment's metadata; nothing was fetched or stored yet.
    (queued,) = stack.queued()
    assert queued["kind"] == "train" and queued["interaction"]["id"] == interaction["id"]
    assert queued["args"]["attachment"]["filename"] == "data.jsonl"
    assert queued["args"]["attachment"]["size"] == len(body)
    assert queued["args"]["dataset"] == "faq"
    assert stack.bucket_keys() == []

    assert stack.work() == {"received": 1, "failed": 0}
    reply = stack.fake.original(interaction["token"])["content"]
    assert "Dataset **faq**: added 2 examples." in reply
    assert "Rejected 2:" in reply
    assert "- line 2: not valid JSON" in reply
    assert "- line 4: no assistant message" in reply
    assert "The dataset now holds 2 examples (2 positive, 0 negative)." in reply
    assert stack.dataset_size("faq") == 2
    # The upload is kept under a key the server made (guild, interaction id, extension).
    assert stack.bucket_keys() == [f"guilds/{GUILD}/uploads/{interaction['id']}.jsonl"]


def test_text_train_uses_the_selected_dataset_and_its_default(stack):
    asked = stack.client.send(stack.command("select_dataset", {"dataset": "Tone", "positive": False}))
    [create] = asked["data"]["components"][0]["components"]
    message = build.bot_message(application_id=APPLICATION_ID, content=asked["data"]["content"])
    selected = stack.client.send(build.component(create["custom_id"], message=message, **TRAINER))["data"]["content"]
    assert selected.startswith("Created and selected dataset **tone** (0 examples).")
    assert "negative (to avoid)" in selected

    reply = stack.run(stack.command("train", {"text": "Q: Are you a robot? A: Beep. Obviously, human."}))
    assert reply["content"] == (
        "Dataset **tone**: added 1 example.\nThe dataset now holds 1 example (0 positive, 1 negative).\n\n"
        "Stored as negative examples (to avoid) in **tone**. To change that: `/train positive:true` for one upload, "
        "`/select_dataset tone positive:…` for the default, or `/train dataset:…`."
    )
    (example,) = stack.stores.datasets.iter_examples(GUILD, "tone")
    assert example.answer == "Beep. Obviously, human." and example.positive is False

    # An explicit option wins over the guild's default.
    reply = stack.run(stack.command("train", {"text": "Q: Hello? A: Hello! How can I help?", "positive": True}))
    assert "(1 positive, 1 negative)" in reply["content"]


def test_text_train_with_an_unreadable_example_says_how(stack):
    reply = stack.run(stack.command("train", {"text": "just some words", "dataset": "faq"}))
    assert reply["content"].startswith("I could not read that example:")
    assert "Q: your question A: the answer" in reply["content"]
    assert stack.dataset_size("faq") == 0


def test_text_and_a_refused_file_in_one_command_reports_both(stack):
    attachment = stack.attachment("d.jsonl", None, size=10, redirect_to="https://evil.example.com/x")
    reply = stack.run(stack.command("train", {"dataset": "faq", "text": "Q: a A: b"}, file=attachment))
    assert reply["content"] == (
        "Dataset **faq**: added 1 example.\nThe dataset now holds 1 example (1 positive, 0 negative).\n\n"
        "Stored as positive examples (to imitate) in **faq**. To change that: `/train positive:false` for one "
        "upload, `/select_dataset faq positive:…` for the default, or `/train dataset:…`.\n\n"
        f"The file was not added: {AttachmentRedirected.user_message}"
    )


def test_train_without_text_or_file_is_refused_at_once(stack):
    reply = stack.inline(stack.command("train", {"dataset": "faq"}))
    assert reply.startswith("Give `text`")
    assert stack.queued() == []


def test_zip_attachment_with_jsonl_and_csv(stack):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("chat.jsonl", b"\n".join([chat_line("a", "1"), chat_line("b", "2")]))
        archive.writestr("sheet.csv", b"prompt,completion\nc,3\nd,4\n")
        archive.writestr("notes.pdf", b"%PDF")
    reply = stack.run(stack.command("train", {"dataset": "pack"},
                                    file=stack.attachment("pack.zip", buffer.getvalue())))["content"]
    assert "Dataset **pack**: added 4 examples." in reply
    assert "notes.pdf line 0: skipped: not a .jsonl or .csv file" in reply
    assert stack.dataset_size("pack") == 4


def test_start_flag_queues_a_fine_tune_job_for_the_same_interaction(stack):
    interaction = stack.command("train", {"text": "Q: ping A: pong", "dataset": "faq", "start": True})
    reply = stack.run(interaction)["content"]
    assert reply.endswith("Starting a fine-tune job… I'll tell you here when it has started.")
    (queued,) = stack.queued()
    assert queued["kind"] == "start_finetune"
    assert queued["args"] == {"dataset": "faq", "confirm": ""} and queued["reply_as_followup"] is True
    assert queued["interaction"]["id"] == interaction["id"]
    assert queued["interaction"]["token"] == interaction["token"]
    # The estimate comes as a follow-up; the /train summary stays in the original reply.
    assert stack.work()["failed"] == 0
    original = stack.fake.original(interaction["token"])
    assert "Dataset **faq**: added 1 example." in original["content"]
    (followup,) = stack.fake.followups(interaction["token"])
    # One example is under the provider's minimum: the estimate says what is missing.
    assert followup["content"].startswith("Dataset **faq**: 1 examples, 0 preference pairs")
    minimum = load_catalog(stack.settings).model(stack.settings.finetune_provider, stack.settings.base_model)
    assert minimum.min_examples and minimum.min_examples > 1
    assert "**Estimate for " in followup["content"]
    assert f"Add {minimum.min_examples - 1} more" in followup["content"]


def test_start_flag_queues_the_fine_tune_only_once_the_train_reply_is_delivered(stack):
    interaction = stack.command("train", {"text": "Q: ping A: pong", "dataset": "faq", "start": True})
    stack.deferred(interaction)
    # Discord is down for the whole first delivery: the reply is not there, so nothing may answer below it.
    stack.fake.fail_next(503, times=6, method="PATCH")
    assert stack.work() == {"received": 1, "failed": 1}
    assert [q["kind"] for q in stack.queued()] == ["train"]
    assert stack.work() == {"received": 1, "failed": 0}
    assert "Starting a fine-tune job" in stack.fake.original(interaction["token"])["content"]
    assert [q["kind"] for q in stack.queued()] == ["start_finetune"]


def test_start_flag_whose_enqueue_fails_says_so_below_the_report(stack):
    interaction = stack.command("train", {"text": "Q: ping A: pong", "dataset": "faq", "start": True})
    stack.deferred(interaction)
    missing = stack.settings.jobs_queue_url.rsplit("/", 1)[0] + "/no-such-queue"
    stack.worker.ctx.settings = dataclasses.replace(stack.settings, jobs_queue_url=missing)
    assert stack.work() == {"received": 1, "failed": 0}
    assert "Starting a fine-tune job" in stack.fake.original(interaction["token"])["content"]
    (notice,) = stack.fake.followups(interaction["token"])
    assert notice["content"].startswith("I couldn't start the fine-tune job")
    assert stack.queued() == []


def test_start_flag_on_an_empty_dataset_does_not_start(stack):
    attachment = stack.attachment("bad.jsonl", b'{"prompt": 1}')
    reply = stack.run(stack.command("train", {"dataset": "empty", "start": True}, file=attachment))
    assert "added 0 examples" in reply["content"]
    assert reply["content"].endswith("Not starting a fine-tune job: the dataset is still empty.")
    assert stack.queued() == []


def test_a_redelivered_train_job_has_no_second_effect(stack):
    body = b"\n".join([chat_line("q1", "a1"), chat_line("q2", "a2")])
    interaction = stack.command("train", {"dataset": "faq"}, file=stack.attachment("d.jsonl", body))
    stack.deferred(interaction)
    (sent,) = stack.queued()
    stack.deferred(interaction)  # Discord's retry of the same interaction: queued twice
    assert stack.work() == {"received": 2, "failed": 0}
    assert stack.queued() == []

    # SQS hands the same request over once more, after the first run completed.
    stack.aws.clients.sqs.send_message(QueueUrl=stack.settings.jobs_queue_url, MessageBody=json.dumps(sent))
    assert stack.work() == {"received": 1, "failed": 0}

    assert stack.dataset_size("faq") == 2
    edits = stack.fake.edits(interaction["token"])
    assert len(edits) == 1 and "added 2 examples" in edits[0]["content"]
    assert len(stack.bucket_keys()) == 1


def test_404_right_after_the_defer_is_retried(stack):
    stack.fake.not_found_after_defer(2)
    reply = stack.run(stack.command("train", {"text": "Q: a A: b", "dataset": "faq"}))
    assert "added 1 example" in reply["content"]
    assert len(stack.sleeps) >= 2


def test_429_on_the_edit_waits_and_delivers(stack):
    stack.fake.fail_next(429, method="PATCH", path_contains="/messages/@original", retry_after=0.75)
    reply = stack.run(stack.command("train", {"text": "Q: a A: b", "dataset": "faq"}))
    assert "added 1 example" in reply["content"]
    assert any(0.7 <= s <= 0.75 for s in stack.sleeps), stack.sleeps
    assert stack.dataset_size("faq") == 1


# -- attachments that must not be used ----------------------------------------------------------------------


def test_attachment_on_another_host_is_refused_by_the_handler(stack):
    attachment = stack.attachment("d.jsonl", chat_line("a", "b"))
    attachment["url"] = "https://evil.example.com/attachments/1/2/d.jsonl"
    reply = stack.inline(stack.command("train", file=attachment))
    assert reply == AttachmentHostNotAllowed.user_message
    assert stack.queued() == []


def queue_train(stack, attachment, interaction_id="1234567890123456789", permissions=1 << 5):
    ref = InteractionRef(id=interaction_id, application_id=stack.settings.discord_application_id,
                         token="itok-direct-" + interaction_id, guild_id=GUILD, channel_id="1", user_id="2",
                         member_permissions=permissions)
    enqueue_task(stack.aws.clients.sqs, stack.settings.jobs_queue_url,
                TaskRequest("train", ref, {"dataset": "faq", "attachment": attachment}))
    assert stack.work() == {"received": 1, "failed": 0}
    return stack.fake.original(ref.token)["content"]


def test_the_worker_refuses_other_hosts_too(stack):
    # Defence in depth: a job that reached the queue some other way is checked again before any request.
    content = queue_train(stack, {"url": "https://169.254.169.254/latest/meta-data", "filename": "x.jsonl",
                                  "size": 10})
    assert content == AttachmentHostNotAllowed.user_message
    assert stack.bucket_keys() == []


def test_a_redirecting_attachment_is_not_followed(stack):
    attachment = stack.attachment("d.jsonl", None, size=10, redirect_to="https://evil.example.com/x")
    reply = stack.run(stack.command("train", file=attachment))
    assert reply["content"] == AttachmentRedirected.user_message
    assert stack.bucket_keys() == [] and stack.dataset_size("default") == 0


def test_an_attachment_declared_too_large_is_refused_at_once(make_stack):
    stack = make_stack(max_attachment_bytes=1024)
    reply = stack.inline(stack.command("train", file=stack.attachment("big.jsonl", b"x" * 2048)))
    assert reply == "That file is larger than 1024 bytes."
    assert stack.queued() == []


def test_an_attachment_larger_than_declared_is_cut_off_while_streaming(make_stack):
    stack = make_stack(max_attachment_bytes=1024 * 1024)
    body = b"\n".join([chat_line(f"q{i}", "a" * 200) for i in range(6000)])  # ~1.5 MB
    attachment = stack.attachment("lie.jsonl", body, size=100, send_length=False)
    reply = stack.run(stack.command("train", file=attachment))
    assert reply["content"] == "That file is larger than 1 MB."
    assert stack.bucket_keys() == [] and stack.dataset_size("default") == 0


def test_a_zip_bomb_adds_nothing(stack):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("bomb.jsonl", b"\0" * (8 * 1024 * 1024))
    reply = stack.run(stack.command("train", {"dataset": "faq"},
                                    file=stack.attachment("bomb.zip", buffer.getvalue())))
    assert "looks like a zip bomb" in reply["content"]
    assert stack.dataset_size("faq") == 0


def test_an_unsupported_file_type_says_what_works(stack):
    reply = stack.run(stack.command("train", file=stack.attachment("photo.png", b"\x89PNG\r\n")))
    assert "I can't read photo.png" in reply["content"] and ".jsonl" in reply["content"]


def test_an_expired_attachment_link_asks_for_a_new_upload(stack):
    attachment = stack.attachment("d.jsonl", chat_line("a", "b"))
    attachment["url"] = attachment["url"].replace("/d.jsonl", "/gone.jsonl")  # the CDN answers 404
    reply = stack.run(stack.command("train", file=attachment))
    assert reply["content"] == "That attachment is gone (the link may have expired). Please upload it again."


def test_the_report_offers_start_training_and_the_button_asks_for_an_estimate(stack):
    reply = stack.run(stack.command("train", {"text": "Q: ping A: pong", "dataset": "faq"}))
    [button] = reply["components"][0]["components"]
    assert (button["label"], button["custom_id"]) == ("Start training", "ft:start:faq")

    message = build.bot_message(application_id=APPLICATION_ID, content=reply["content"], message_id=reply["id"])
    pressed = stack.client.send(build.component(button["custom_id"], message=message,
                                                permissions=TRAINER["permissions"],
                                                application_id=APPLICATION_ID))
    assert pressed["type"] == 5
    (queued,) = stack.queued()
    assert (queued["kind"], queued["args"]) == ("start_finetune", {"dataset": "faq", "confirm": ""})


def test_an_empty_dataset_offers_no_start_button(stack):
    attachment = stack.attachment("bad.jsonl", b'{"prompt": 1}')
    reply = stack.run(stack.command("train", {"dataset": "empty"}, file=attachment))
    assert not reply["components"]
