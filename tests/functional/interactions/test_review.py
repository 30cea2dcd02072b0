"""Members' corrections and 👎 votes wait for a trainer's /review; only approved ones become dataset examples.

Signed interactions through the Flask app, DynamoDB on moto.
"""

from __future__ import annotations

from infra import interactions as build
from shared.discord.permissions import MANAGE_GUILD
from shared.storage import keys
from shared.storage.exchanges import Exchange
from tests.conftest import APPLICATION_ID

A = {"application_id": APPLICATION_ID}
GUILD = build.DEFAULT_GUILD
TRAINER = {"user_id": "400000000000000099", "permissions": MANAGE_GUILD}
MEMBER = {"user_id": "400000000000000001"}
OTHER = {"user_id": "400000000000000002"}
MESSAGE = "123456789012345678"
SIMULATED = "\n_(The provider is simulated: this is the local fake, not a real model.)_"


def record_answer(stores, message_id=MESSAGE, prompt="What is 2+2?", answer="5"):
    stores.exchanges.add(Exchange(guild_id=GUILD, message_id=message_id, channel_id=build.DEFAULT_CHANNEL,
                                    user_id="2", prompt=prompt, answer=answer, model="m"))
    return build.bot_message(content=f"> 🎤 {prompt}\n{answer}{SIMULATED}", message_id=message_id, **A)


def correct(app_client, text, who=MEMBER, message_id=MESSAGE):
    return app_client.send(build.slash("correct", options={"message": message_id, "correction": text},
                                       **who, **A))["data"]["content"]


def examples(stores, dataset="default"):
    return list(stores.datasets.iter_examples(GUILD, dataset))


def review(app_client, **options):
    return app_client.send(build.slash("review", options=options, **TRAINER, **A))


def buttons(reply):
    return [c["custom_id"] for row in reply["data"].get("components", []) for c in row["components"]]


def press(app_client, custom_id, who=TRAINER):
    message = build.bot_message(content="review page", **A)
    return app_client.send(build.component(custom_id, message=message, **who, **A))


def test_the_form_is_prefilled_with_the_answer_text_only(app_client, stores):
    message = record_answer(stores)
    opened = app_client.send(build.component("fix", message=message, **MEMBER, **A))
    assert opened["type"] == 9
    assert opened["data"]["components"][0]["component"]["value"] == "5"


def test_a_members_correction_waits_for_review_and_trains_nothing(app_client, stores):
    record_answer(stores)
    reply = correct(app_client, "4")
    assert "A trainer will review it before it becomes training data" in reply
    assert examples(stores) == []
    [pending] = stores.reviews.pending(GUILD)
    assert (pending.kind, pending.prompt, pending.answer, pending.correction) == ("correction", "What is 2+2?",
                                                                                   "5", "4")


def test_one_correction_per_person_per_answer(app_client, stores):
    record_answer(stores)
    correct(app_client, "4")
    correct(app_client, "Four.")
    correct(app_client, "2+2 is 4", who=OTHER)
    pending = stores.reviews.pending(GUILD)
    assert sorted((p.user_id, p.correction) for p in pending) == [
        (MEMBER["user_id"], "Four."), (OTHER["user_id"], "2+2 is 4")]
    stored = list(stores.table.query_prefix(keys.guild_pk(GUILD), "CORRECTION#"))
    assert len(stored) == 2


def test_an_unchanged_correction_is_refused(app_client, stores):
    record_answer(stores)
    assert "same as the original answer" in correct(app_client, "5")
    assert stores.reviews.pending(GUILD) == []


def test_a_message_without_a_record_is_feedback_only(app_client, stores):
    message = build.bot_message(content="Something I said", message_id=MESSAGE, **A)
    opened = app_client.send(build.message_command("Correct this answer", target=message, **MEMBER, **A))
    assert "value" not in opened["data"]["components"][0]["component"]
    reply = app_client.send(build.modal_submit(f"correct:{MESSAGE}", values={"correction": "Better"}, **MEMBER,
                                               **A))["data"]["content"]
    assert reply.startswith("Saved as feedback.") and "cannot become training data" in reply
    assert stores.reviews.pending(GUILD) == []
    [feedback] = list(stores.table.query_prefix(keys.guild_pk(GUILD), "FEEDBACK#"))
    assert feedback["text"] == "Correction: Better" and feedback["message_id"] == MESSAGE


def test_a_trainers_own_correction_counts_as_approved(app_client, stores):
    record_answer(stores)
    reply = correct(app_client, "4", who=TRAINER)
    assert "added to dataset **default** as a preference pair" in reply and "counts as approved" in reply
    [example] = examples(stores)
    assert (example.answer, example.rejected, example.prompt[0].content) == ("4", "5", "What is 2+2?")
    assert stores.reviews.pending(GUILD) == []


def test_review_pages_and_approve_into_a_chosen_dataset(app_client, stores):
    for i in range(5):
        record_answer(stores, message_id=f"12345678901234567{i}", prompt=f"Question {i}?", answer=f"Wrong {i}")
        correct(app_client, f"Right {i}", message_id=f"12345678901234567{i}")
    stores.datasets.ensure_dataset(GUILD, "faq")

    members_view = app_client.send(build.slash("review", **MEMBER, **A))
    assert "Manage Server" in members_view["data"]["content"]

    first = review(app_client, dataset="faq")
    assert first["data"]["flags"] == 64
    content = first["data"]["content"]
    assert "**5 waiting for review** (page 1 of 2)" in content and "dataset **faq**" in content
    assert "Q: Question 0?" in content and "Bot: Wrong 0" in content and "Correction: Right 0" in content
    assert f"<@{MEMBER['user_id']}>" in content
    ids = buttons(first)
    assert ids[:3] == [f"review:a:c:123456789012345670:{MEMBER['user_id']}:faq",
                       f"review:e:c:123456789012345670:{MEMBER['user_id']}:faq",
                       f"review:r:c:123456789012345670:{MEMBER['user_id']}:faq:1"]
    assert ids[-1] == "review:p:2:faq"

    approved = press(app_client, ids[0])
    assert approved["type"] == 7
    assert approved["data"]["content"].startswith("✅ Approved: added to **faq** as a preference pair.")
    assert "**4 waiting for review**" in approved["data"]["content"]
    [example] = examples(stores, "faq")
    assert (example.answer, example.rejected) == ("Right 0", "Wrong 0")
    assert examples(stores) == []  # only into the dataset it was approved into

    again = press(app_client, ids[0])
    assert again["data"]["content"].startswith("That one was already reviewed")
    assert len(examples(stores, "faq")) == 1

    rejected = press(app_client, buttons(approved)[2])
    assert rejected["data"]["content"].startswith("🗑️ Rejected")
    assert len(examples(stores, "faq")) == 1 and len(stores.reviews.pending(GUILD)) == 3

    page_two = press(app_client, "review:p:2:faq")
    assert "page 1 of 1" in page_two["data"]["content"]  # three left: one page


def test_edit_then_approve(app_client, stores):
    record_answer(stores)
    correct(app_client, "4ish")
    [edit] = [i for i in buttons(review(app_client)) if i.startswith("review:e:")]
    modal = press(app_client, edit)
    assert modal["type"] == 9, modal
    field = modal["data"]["components"][0]["component"]
    assert field["value"] == "4ish"
    custom = modal["data"]["custom_id"]
    unchanged = app_client.send(build.modal_submit(custom, values={"correction": "5"}, **TRAINER, **A))
    assert "the bot's own answer" in unchanged["data"]["content"]
    done = app_client.send(build.modal_submit(custom, values={"correction": "4"}, **TRAINER, **A))
    assert done["data"]["content"].startswith("✅ Approved your edit: added to **default**")
    [example] = examples(stores)
    assert (example.answer, example.rejected) == ("4", "5")


def test_a_members_thumbs_down_waits_and_becomes_a_negative_example(app_client, stores):
    message = record_answer(stores)
    reply = app_client.send(build.component("vote:down", message=message, **MEMBER, **A))
    assert "a trainer will review it" in reply["data"]["content"]
    assert examples(stores) == []
    [pending] = stores.reviews.pending(GUILD)
    assert pending.kind == "downvote"
    page = review(app_client)
    assert "👎 vote" in page["data"]["content"]
    approved = press(app_client, buttons(page)[0])
    assert "as a negative example" in approved["data"]["content"]
    [example] = examples(stores)
    assert (example.positive, example.answer) == (False, "5")


def test_a_thumbs_up_after_a_thumbs_down_leaves_the_queue(app_client, stores):
    message = record_answer(stores)
    app_client.send(build.component("vote:down", message=message, **MEMBER, **A))
    app_client.send(build.component("vote:up", message=message, **MEMBER, **A))
    assert stores.reviews.pending(GUILD) == []


def test_review_into_an_unknown_dataset_says_so(app_client, stores):
    reply = review(app_client, dataset="nope")
    assert "no dataset called `nope`" in reply["data"]["content"]
