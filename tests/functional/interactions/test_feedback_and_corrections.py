"""/feedback, votes, /correct and the correction modal, stored in DynamoDB (moto) through the real client."""

import pytest

from infra import interactions as build
from shared.storage import keys
from shared.storage.exchanges import Exchange
from tests.conftest import APPLICATION_ID
from tests.support.discord_spec import assert_label_modal

A = {"application_id": APPLICATION_ID}
GUILD = build.DEFAULT_GUILD


def records(stores, prefix):
    return list(stores.table.query_prefix(keys.guild_pk(GUILD), prefix))


def test_feedback_is_stored_before_the_reply(app_client, stores):
    reply = app_client.send(build.slash("feedback", options={"text": "Too verbose @everyone"}, **A))
    assert reply["data"] == {"content": "Thanks, your feedback is saved.", "allowed_mentions": {"parse": []},
                             "flags": 64}
    [stored] = records(stores, "FEEDBACK#")
    assert stored["text"] == "Too verbose @everyone"
    assert stored["user_id"] == build.DEFAULT_USER
    assert stored["kind"] == "text"


def test_feedback_about_a_message_link(app_client, stores):
    link = f"https://discord.com/channels/{GUILD}/{build.DEFAULT_CHANNEL}/123456789012345678"
    app_client.send(build.slash("feedback", options={"text": "wrong", "message": link}, **A))
    assert records(stores, "FEEDBACK#")[0]["message_id"] == "123456789012345678"


def test_feedback_with_a_bad_message_reference_says_how(app_client, stores):
    reply = app_client.send(build.slash("feedback", options={"text": "x", "message": "../etc"}, **A))
    assert "message link" in reply["data"]["content"]
    assert records(stores, "FEEDBACK#") == []


def test_replayed_interaction_stores_nothing_twice(app_client, stores):
    interaction = build.slash("feedback", options={"text": "once"}, **A)
    first = app_client.send(interaction)
    second = app_client.send(interaction)
    assert first == second
    assert len(records(stores, "FEEDBACK#")) == 1


def test_storage_failure_is_not_a_false_success(app_client, stores, aws, caplog):
    aws.clients.dynamodb.delete_table(TableName=aws.settings.data_table)
    reply = app_client.send(build.slash("feedback", options={"text": "lost?"}, **A))
    assert reply["data"]["content"] == "Not saved, please try again."
    assert reply["data"]["flags"] == 64
    assert "put_item failed" in caplog.text


def test_feedback_outside_a_server_is_refused(app_client):
    reply = app_client.send(build.slash("feedback", options={"text": "dm"}, guild_id=None, **A))
    assert reply["data"]["content"] == "This only works in a server."


@pytest.mark.parametrize("rating", ["up", "down"])
def test_vote_buttons(app_client, stores, rating):
    message = build.bot_message(application_id=APPLICATION_ID, content="Paris is in Italy.")
    reply = app_client.send(build.component(f"vote:{rating}", message=message, **A))
    assert reply["data"]["flags"] == 64
    [stored] = records(stores, "FEEDBACK#VOTE#")
    assert (stored["kind"], stored["message_id"]) == (rating, message["id"])


def test_changing_a_vote_keeps_one_record(app_client, stores):
    message = build.bot_message(application_id=APPLICATION_ID, content="x")
    app_client.send(build.component("vote:up", message=message, **A))
    app_client.send(build.component("vote:down", message=message, **A))
    [stored] = records(stores, "FEEDBACK#VOTE#")
    assert stored["kind"] == "down"


def test_correction_modal_from_the_message_menu(app_client, stores):
    stores.exchanges.add(Exchange(guild_id=GUILD, message_id="123456789012345678", channel_id="1", user_id="2",
                                    prompt="Capital of France?", answer="The capital of France is Lyon.", model="m"))
    answer = build.bot_message(application_id=APPLICATION_ID, content="The capital of France is Lyon.",
                               message_id="123456789012345678")
    opened = app_client.send(build.message_command("Correct this answer", target=answer, **A))
    assert opened["type"] == 9
    assert opened["data"]["custom_id"] == f"correct:{answer['id']}"
    [field] = assert_label_modal(opened)
    assert field["value"] == "The capital of France is Lyon."

    submitted = app_client.send(build.modal_submit(opened["data"]["custom_id"],
                                                   values={"correction": "The capital of France is Paris."}, **A))
    assert submitted["data"]["content"].startswith("Correction saved.")
    [stored] = records(stores, "CORRECTION#")
    assert stored["original_text"] == "The capital of France is Lyon."
    assert stored["correction"] == "The capital of France is Paris."
    assert stored["message_id"] == answer["id"]
    assert stored["status"] == "pending"


def test_correct_button_on_an_answer_opens_the_modal(app_client):
    answer = build.bot_message(application_id=APPLICATION_ID, content="2+2=5")
    opened = app_client.send(build.component("fix", message=answer, **A))
    assert opened["type"] == 9
    [field] = assert_label_modal(opened)
    assert field["custom_id"] == "correction"


def test_only_the_bots_own_messages_can_be_corrected(app_client, stores):
    someone = build.bot_message(application_id="999999999999999999", content="not mine")
    reply = app_client.send(build.message_command("Correct this answer", target=someone, **A))
    assert reply["data"]["content"] == "I can only take corrections of my own answers."


def test_correct_command_uses_the_recorded_exchange(app_client, stores):
    stores.exchanges.add(Exchange(guild_id=GUILD, message_id="123456789012345678", channel_id="1",
                                    user_id="2", prompt="What is 2+2?", answer="5", model="m"))
    reply = app_client.send(build.slash("correct", options={"message": "123456789012345678",
                                                            "correction": "4"}, **A))
    assert reply["data"]["content"].startswith("Correction saved.")
    [stored] = records(stores, "CORRECTION#")
    assert (stored["prompt"], stored["original_text"], stored["correction"]) == ("What is 2+2?", "5", "4")


def test_correct_command_on_an_unknown_message_says_what_to_do(app_client, stores):
    reply = app_client.send(build.slash("correct", options={"message": "123456789012345678",
                                                            "correction": "4"}, **A))
    assert "no record of the question behind that message" in reply["data"]["content"]
    assert records(stores, "CORRECTION#") == []
    [feedback] = records(stores, "FEEDBACK#")
    assert feedback["text"] == "Correction: 4"


def test_unchanged_or_empty_correction_is_refused(app_client, stores):
    stores.exchanges.add(Exchange(guild_id=GUILD, message_id="123456789012345678", channel_id="1", user_id="2",
                                    prompt="q", answer="same", model="m"))
    answer = build.bot_message(application_id=APPLICATION_ID, content="same", message_id="123456789012345678")
    opened = app_client.send(build.message_command("Correct this answer", target=answer, **A))
    for text in ("same", "   "):
        reply = app_client.send(build.modal_submit(opened["data"]["custom_id"], values={"correction": text}, **A))
        assert reply["data"]["flags"] == 64
    assert records(stores, "CORRECTION#") == []


def test_instruction_default_then_guild_text(app_client, stores):
    default = app_client.send(build.slash("instruction", **A))
    assert "How to teach me" in default["data"]["content"]
    stores.instructions.put(GUILD, "Be kind. <@123> @everyone")
    custom = app_client.send(build.slash("instruction", **A))
    assert custom["data"]["content"] == "Be kind. <@123> @everyone"
    assert custom["data"]["allowed_mentions"] == {"parse": []}


def test_trainers_set_the_instruction_through_a_form(app_client, stores):
    trainer = {"permissions": build.MANAGE_GUILD, **A}
    opened = app_client.send(build.slash("set_instruction", **trainer))
    assert opened["type"] == 9
    [field] = assert_label_modal(opened)
    assert "How to teach me" in field["value"]  # prefilled with what /instruction shows now

    saved = app_client.send(build.modal_submit(opened["data"]["custom_id"], values={"text": "Be brief."},
                                               **trainer))
    assert saved["data"]["content"].startswith("Saved.")
    assert app_client.send(build.slash("instruction", **A))["data"]["content"] == "Be brief."

    cleared = app_client.send(build.modal_submit("instruction:edit", values={"text": "  "}, **trainer))
    assert cleared["data"]["content"].startswith("Cleared.")
    assert "How to teach me" in app_client.send(build.slash("instruction", **A))["data"]["content"]


def test_members_cannot_set_the_instruction(app_client, stores):
    assert app_client.send(build.slash("set_instruction", **A))["data"]["flags"] == 64
    refused = app_client.send(build.modal_submit("instruction:edit", values={"text": "pwned"}, **A))
    assert refused["data"]["flags"] == 64
    assert "How to teach me" in app_client.send(build.slash("instruction", **A))["data"]["content"]


def test_manage_server_chooses_the_trainer_role_and_it_then_trains(app_client, stores):
    member_with_role = {"roles": ("700000000000000001",), **A}
    refused = app_client.send(build.slash("select_dataset", options={"dataset": "faq"}, **member_with_role))
    assert "Manage Server" in refused["data"]["content"]

    # The role itself cannot choose the trainer role; Manage Server can.
    assert "Only members" in app_client.send(build.slash("trainer_role", options={"role": "700000000000000001"},
                                                         **member_with_role))["data"]["content"]
    chosen = app_client.send(build.slash("trainer_role", options={"role": "700000000000000001"},
                                         permissions=build.MANAGE_GUILD, **A))
    assert "<@&700000000000000001>" in chosen["data"]["content"]
    assert chosen["data"]["allowed_mentions"] == {"parse": []}

    stores.datasets.ensure_dataset(GUILD, "faq")
    allowed = app_client.send(build.slash("select_dataset", options={"dataset": "faq"}, **member_with_role))
    assert allowed["data"]["content"].startswith("Selected dataset **faq**")

    # Looking at the setting changes nothing, and says how to let the role see the commands.
    shown = app_client.send(build.slash("trainer_role", permissions=build.MANAGE_GUILD, **A))["data"]
    assert shown["content"].startswith("The trainer role is <@&700000000000000001>")
    assert "Server Settings → Integrations" in shown["content"] and shown["flags"] == 64
    assert "Server Settings → Integrations" in chosen["data"]["content"]
    still = app_client.send(build.slash("select_dataset", options={"dataset": "faq"}, **member_with_role))
    assert still["data"]["content"].startswith("Selected dataset **faq**")

    both = app_client.send(build.slash("trainer_role", options={"role": "700000000000000001", "clear": True},
                                       permissions=build.MANAGE_GUILD, **A))["data"]["content"]
    assert "not both" in both
    cleared = app_client.send(build.slash("trainer_role", options={"clear": True}, permissions=build.MANAGE_GUILD,
                                          **A))["data"]["content"]
    assert cleared.startswith("Trainer role removed")
    again = app_client.send(build.slash("select_dataset", options={"dataset": "faq"}, **member_with_role))
    assert "Manage Server" in again["data"]["content"]
    none = app_client.send(build.slash("trainer_role", permissions=build.MANAGE_GUILD, **A))["data"]["content"]
    assert none.startswith("No trainer role")
