"""Path-like names go nowhere; only trainers train (checked by the handler and again by the job); autocomplete."""

from __future__ import annotations

import pytest

from infra import interactions as build
from shared.contracts.enqueue import enqueue_task
from shared.contracts.messages import InteractionRef, TaskRequest
from shared.discord.permissions import authorize_trainer
from shared.errors import Forbidden
from shared.storage.datasets import DatasetStore, GuildTrainingSettings
from shared.storage.files import FILE_ID_RULE
from tests.conftest import APPLICATION_ID
from tests.functional.training.conftest import GUILD, TRAINER, chat_line

PATH_LIKE = ["../etc/passwd", "/etc/passwd", "..%2f..%2fsecret", "%2e%2e", "guilds/1/archives/x.zip",
             "C:\\Windows\\win.ini", "archive-faq-v1/../../x", "~root", "s3://bucket/key", "..\\x"]
NOT_TRAINER = {"application_id": APPLICATION_ID, "permissions": (1 << 10) | (1 << 11)}  # view + send
NO_PERMISSION = "You need the Manage Server permission to use training commands."


@pytest.mark.parametrize("name", PATH_LIKE)
def test_path_like_getfile_names_are_refused_by_the_handler(stack, name):
    assert stack.inline(stack.command("getfile", {"name": name})) == FILE_ID_RULE
    assert stack.queued() == []


@pytest.mark.parametrize("name", PATH_LIKE)
def test_path_like_dataset_names_are_refused_everywhere(stack, name):
    for command, options in (("select_dataset", {"dataset": name}), ("archive", {"dataset": name}),
                             ("train", {"dataset": name, "text": "Q: a A: b"})):
        reply = stack.inline(stack.command(command, options))
        assert "Dataset names are" in reply, (command, reply)
    assert stack.queued() == []
    assert stack.stores.datasets.list_datasets(GUILD) == []


def direct_job(stack, kind, args, *, permissions=1 << 5, roles=(), interaction_id="1300000000000000777"):
    """A job that reached the queue without the handler's checks."""
    ref = InteractionRef(id=interaction_id, application_id=APPLICATION_ID, token=f"itok-{interaction_id}",
                         guild_id=GUILD, channel_id="1", user_id="2", member_permissions=permissions,
                         member_roles=tuple(roles))
    enqueue_task(stack.aws.clients.sqs, stack.settings.jobs_queue_url, TaskRequest(kind, ref, args))
    assert stack.work() == {"received": 1, "failed": 0}
    return stack.fake.original(ref.token)["content"]


@pytest.mark.parametrize("name", ["../etc/passwd", "%2e%2e%2fx", "/abs"])
def test_the_jobs_check_names_again(stack, name):
    assert direct_job(stack, "getfile", {"name": name}, interaction_id="1300000000000000771") == FILE_ID_RULE
    assert "Dataset names are" in direct_job(stack, "archive", {"dataset": name},
                                             interaction_id="1300000000000000772")
    assert "Dataset names are" in direct_job(stack, "train", {"dataset": name, "text": "Q: a A: b"},
                                             interaction_id="1300000000000000773")
    assert stack.bucket_keys() == []


def test_a_member_without_permission_is_refused_by_the_handler(stack):
    attachment = stack.attachment("d.jsonl", chat_line("a", "b"))
    for command, options, file in (("train", {"text": "Q: a A: b"}, None), ("train", None, attachment),
                                   ("select_dataset", {"dataset": "faq"}, None), ("archive", None, None),
                                   ("getfile", {"name": "corrections-log"}, None)):
        reply = stack.inline(stack.command(command, options, file=file, **NOT_TRAINER))
        assert reply == NO_PERMISSION, command
    assert stack.queued() == []
    assert stack.stores.datasets.list_datasets(GUILD) == []


def test_trainer_commands_are_refused_outside_a_server(stack):
    reply = stack.inline(stack.command("train", {"text": "Q: a A: b"}, guild_id=None))
    assert reply == "Training commands work only in a server, not in direct messages."


def test_the_guilds_trainer_role_grants_access(stack):
    stack.stores.datasets.set_trainer_role(GUILD, "500000000000000001")
    member = {**NOT_TRAINER, "roles": ("500000000000000001",)}
    assert stack.run(stack.command("train", {"text": "Q: a A: b", "dataset": "faq"}, **member))[
        "content"].startswith("Dataset **faq**: added 1 example.")
    refused = stack.inline(stack.command("train", {"text": "Q: a A: b"}, **{**NOT_TRAINER, "roles": ("9",)}))
    assert refused == "You need the Manage Server permission or the trainer role to use training commands."


def test_the_job_refuses_a_member_without_permission(stack):
    content = direct_job(stack, "train", {"dataset": "faq", "text": "Q: a A: b"}, permissions=1 << 11)
    assert content == NO_PERMISSION
    assert stack.stores.datasets.list_datasets(GUILD) == []
    assert direct_job(stack, "getfile", {"name": "corrections-log"}, permissions=0,
                      interaction_id="1300000000000000778") == NO_PERMISSION
    assert stack.bucket_keys() == []
    # With the role the guild configured, the same job runs.
    stack.stores.datasets.set_trainer_role(GUILD, "500000000000000001")
    content = direct_job(stack, "train", {"dataset": "faq", "text": "Q: a A: b"}, permissions=0,
                         roles=("500000000000000001",), interaction_id="1300000000000000779")
    assert content.startswith("Dataset **faq**: added 1 example.")


def test_a_role_trainers_job_reads_the_guild_settings_once(stack, monkeypatch):
    reads: list[str] = []
    original = DatasetStore.guild_settings

    def counting(self, guild_id):
        reads.append(guild_id)
        return original(self, guild_id)

    monkeypatch.setattr(DatasetStore, "guild_settings", counting)
    stack.stores.datasets.set_trainer_role(GUILD, "500000000000000001")
    content = direct_job(stack, "train", {"text": "Q: a A: b"}, permissions=0, roles=("500000000000000001",))
    assert "added 1 example" in content
    assert reads == [GUILD]  # the role check's read also gives the selected dataset
    reads.clear()
    assert "Archived" in direct_job(stack, "archive", {}, permissions=0, roles=("500000000000000001",),
                                    interaction_id="1300000000000000780")
    assert reads == [GUILD]


def test_authorize_trainer_reads_the_settings_only_when_needed():
    settings = GuildTrainingSettings(trainer_role_id="7")
    reads: list[str] = []

    def lookup(guild_id: str) -> GuildTrainingSettings:
        reads.append(guild_id)
        return settings

    assert authorize_trainer("42", {"permissions": str(1 << 5)}, lookup) == ("42", None)
    assert reads == []
    assert authorize_trainer("42", {"permissions": "0", "roles": ["7"]}, lookup) == ("42", settings)
    assert reads == ["42"]
    with pytest.raises(Forbidden, match="or the trainer role"):
        authorize_trainer("42", {"permissions": "0", "roles": ["8"]}, lookup)
    with pytest.raises(Forbidden, match="direct messages"):
        authorize_trainer(None, {"permissions": str(1 << 3)}, lookup)


def test_dataset_autocomplete(stack):
    for name in ("support-faq", "support-tone", "jokes"):
        stack.stores.datasets.ensure_dataset(GUILD, name)
    stack.run(stack.command("train", {"text": "Q: a A: b", "dataset": "jokes"}))

    def choices(command, value, **base):
        reply = stack.client.send(build.autocomplete(command, focused="dataset", value=value, **{**TRAINER, **base}))
        assert reply["type"] == 8
        return [(c["name"], c["value"]) for c in reply["data"]["choices"]]

    assert choices("select_dataset", "SUP") == [("support-faq (0 examples)", "support-faq"),
                                                ("support-tone (0 examples)", "support-tone")]
    assert choices("train", "j") == [("jokes (1 example)", "jokes")]
    assert choices("archive", "") == [("jokes (1 example)", "jokes"), ("support-faq (0 examples)", "support-faq"),
                                      ("support-tone (0 examples)", "support-tone")]
    assert choices("archive", "../") == []
    # A member who may not train sees nothing (autocomplete never fails: empty choices).
    assert choices("archive", "", permissions=0) == []
