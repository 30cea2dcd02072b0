"""VoiceTranscribeMessages in template.yaml: off, the voice worker's tasks and role are what they were; on, every
shard's task gets the settings the transcriber and the answerer read, and its role VoiceTranscriptionPolicy."""

from __future__ import annotations

import pytest

from infra.template import Provisioned, evaluate_conditions, load_template, task_environment
from shared.config import VOICE_STT_ENGINES, Settings

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]
IMAGE = "1.dkr.ecr/voice:1"
TASKS = ("VoiceTaskDefinition", "VoiceTaskDefinition1", "VoiceTaskDefinition2", "VoiceTaskDefinition3")
# What the answer path reads, and nothing else it does not need (BEDROCK_ROLE_ARN is for training jobs).
TRANSCRIPTION_ENV = {"VOICE_TRANSCRIBE_MESSAGES", "VOICE_STT_ENGINE", "FINETUNE_PROVIDER", "BASE_MODEL",
                     "OPENAI_API_KEY_SECRET"}
# A task's environment before there was a transcription parameter.
TASK_ENV = {"LOG_LEVEL", "DISCORD_APPLICATION_ID", "DISCORD_BOT_TOKEN_SECRET", "DATA_TABLE", "BUCKET_NAME",
            "VOICE_QUEUE_URL", "VOICE_SHARD_ID", "VOICE_SHARD_COUNT", "VOICE_HEALTH_PORT"}


def deployment(**given: str) -> Provisioned:
    values = {name: str(spec.get("Default", "")) for name, spec in PARAMETERS.items()}
    values.update(DiscordPublicKey="0" * 64, DiscordApplicationId="100000000000000001", BotTokenSecretArn="arn:s",
                  VoiceImageUri=IMAGE)
    values.update(given)
    conditions = evaluate_conditions(TEMPLATE, values)
    refs = {lid: lid for lid, r in RESOURCES.items() if conditions.get(r.get("Condition", ""), "Condition" not in r)}
    return Provisioned(refs=refs, arns={lid: f"arn:aws:test:::{lid}" for lid in refs}, parameters=values,
                       conditions=conditions)


def shards(deployed: Provisioned) -> list[str]:
    return [task for task in TASKS if task in deployed.refs]


def test_the_parameter_is_off_by_default_and_says_what_it_needs_and_costs():
    spec = PARAMETERS["VoiceTranscribeMessages"]
    assert spec["Default"] == "false" and spec["AllowedValues"] == ["false", "true"]
    description = " ".join(spec["Description"].split())
    assert "Message Content intent" in description and "developer portal" in description
    assert "Costs:" in description and "per token" in description
    assert PARAMETERS["VoiceSttEngine"]["AllowedValues"] == list(VOICE_STT_ENGINES)
    assert PARAMETERS["VoiceSttEngine"]["Default"] == Settings().voice_stt_engine


@pytest.mark.parametrize("count", ["1", "4"])
def test_off_nothing_is_added_and_the_role_is_unchanged(count):
    deployed = deployment(VoiceShardCount=count)
    assert not deployed.conditions["HasVoiceTranscription"]
    assert "VoiceTranscriptionPolicy" not in deployed.refs
    role = RESOURCES["VoiceTaskRole"]["Properties"]
    assert deployed.resolve_list(role["ManagedPolicyArns"]) == ["VoiceWorkerPolicy"]
    assert len(shards(deployed)) == int(count)
    for task in shards(deployed):
        env = task_environment(deployed, task, TEMPLATE)
        assert set(env) == TASK_ENV, task
        assert not Settings.from_env(env).voice_transcribe_messages


@pytest.mark.parametrize("count", ["1", "2", "3", "4"])
def test_on_every_shards_task_gets_the_answer_paths_settings(count):
    deployed = deployment(VoiceShardCount=count, VoiceTranscribeMessages="true", FineTuneProvider="openai",
                          BaseModel="gpt-4.1-mini-2025-04-14", OpenAIKeySecretArn="arn:openai", VoiceSttEngine="openai")
    assert deployed.conditions["HasVoiceTranscription"]
    assert len(shards(deployed)) == int(count)
    for task in shards(deployed):
        env = task_environment(deployed, task, TEMPLATE)
        assert set(env) == TASK_ENV | TRANSCRIPTION_ENV, task
        settings = Settings.from_env(env)
        assert settings.voice_transcribe_messages and settings.voice_stt_engine == "openai"
        assert (settings.finetune_provider, settings.base_model) == ("openai", "gpt-4.1-mini-2025-04-14")
        assert settings.openai_api_key_secret == "arn:openai"
    assert deployed.resolve_list(RESOURCES["VoiceTaskRole"]["Properties"]["ManagedPolicyArns"]) == [
        "VoiceWorkerPolicy", "VoiceTranscriptionPolicy"]


def test_the_tasks_take_the_provider_settings_from_the_same_parameters_as_the_functions():
    for task in TASKS:
        [container] = RESOURCES[task]["Properties"]["ContainerDefinitions"]
        conditional = {}
        for item in container["Environment"]:
            if "Fn::If" in item:
                name, when_true, when_false = item["Fn::If"]
                assert (name, when_false) == ("HasVoiceTranscription", {"Ref": "AWS::NoValue"})
                conditional[when_true["Name"]] = when_true["Value"]
        assert set(conditional) == TRANSCRIPTION_ENV, task
        worker = RESOURCES["WorkerFunction"]["Properties"]["Environment"]["Variables"]
        for name in ("FINETUNE_PROVIDER", "BASE_MODEL", "OPENAI_API_KEY_SECRET"):
            assert conditional[name] == worker[name], name
        assert conditional["VOICE_TRANSCRIBE_MESSAGES"] == "true"
        assert conditional["VOICE_STT_ENGINE"] == {"Ref": "VoiceSttEngine"}


def test_defaults_when_on_answer_with_the_provider_default_and_the_seeds_recogniser():
    deployed = deployment(VoiceTranscribeMessages="true")
    settings = Settings.from_env(task_environment(deployed, "VoiceTaskDefinition", TEMPLATE))
    assert settings.voice_transcribe_messages
    assert settings == Settings.from_env({**task_environment(deployed, "VoiceTaskDefinition", TEMPLATE),
                                          "BASE_MODEL": "", "OPENAI_API_KEY_SECRET": ""})
    assert (settings.finetune_provider, settings.voice_stt_engine) == ("bedrock", "google")
    assert settings.base_model_is_default and not settings.openai_api_key_secret


def _rule(name: str, **given: str) -> tuple[bool, list[bool]]:
    """(does the rule apply, each assertion's outcome) for these parameters."""
    values = {name_: str(spec.get("Default", "")) for name_, spec in PARAMETERS.items()}
    values.update(given)
    rule = TEMPLATE["Rules"][name]
    conditions = {"applies": rule["RuleCondition"]}
    conditions.update({f"a{i}": a["Assert"] for i, a in enumerate(rule["Assertions"])})
    outcome = evaluate_conditions({"Conditions": conditions}, values)
    return outcome["applies"], [outcome[f"a{i}"] for i in range(len(rule["Assertions"]))]


def test_rules_refuse_transcription_without_a_voice_worker_and_openai_without_its_key():
    assert _rule("VoiceTranscriptionNeedsTheVoiceWorker", VoiceTranscribeMessages="true") == (True, [False])
    assert _rule("VoiceTranscriptionNeedsTheVoiceWorker", VoiceTranscribeMessages="true",
                 VoiceImageUri=IMAGE) == (True, [True])
    assert _rule("VoiceTranscriptionNeedsTheVoiceWorker")[0] is False
    assert _rule("OpenAITranscriptionNeedsTheKey", VoiceTranscribeMessages="true",
                 VoiceSttEngine="openai") == (True, [False])
    assert _rule("OpenAITranscriptionNeedsTheKey", VoiceTranscribeMessages="true", VoiceSttEngine="openai",
                 OpenAIKeySecretArn="arn:k") == (True, [True])
    assert _rule("OpenAITranscriptionNeedsTheKey", VoiceTranscribeMessages="true")[0] is False


def test_the_deployed_settings_build_a_worker_that_transcribes_and_answers():
    """The gap this closes: locally (make run) the worker answered voice messages, deployed it did not."""
    from voice_worker.__main__ import build_bot

    for transcribe, expected in (("false", False), ("true", True)):
        deployed = deployment(VoiceTranscribeMessages=transcribe)
        env = task_environment(deployed, "VoiceTaskDefinition", TEMPLATE)
        bot = build_bot(Settings.from_env({**env, "AWS_DEFAULT_REGION": "us-east-1"}))
        assert (bot.transcriber is not None, bot.answerer is not None) == (expected, expected)
        assert bot.intents.message_content is expected
