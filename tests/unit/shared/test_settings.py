import pytest

from shared.config import DEFAULT_ATTACHMENT_HOSTS, Settings
from shared.errors import ConfigError


def test_defaults_and_parsing():
    settings = Settings.from_env({"ATTACHMENT_HOSTS": " a.example , B.example:8443 ,", "FINETUNE_PROVIDER": "Bedrock",
                                  "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10/", "JOBS_MAX_RECEIVE_COUNT": "5",
                                  "DATA_TABLE": "  "})
    assert settings.attachment_hosts == ("a.example", "b.example:8443")
    assert settings.finetune_provider == "bedrock"
    assert settings.discord_api_base == "http://127.0.0.1:9/api/v10"
    assert settings.jobs_max_receive_count == 5
    assert settings.data_table == ""  # blank is unset
    assert Settings.from_env({}).attachment_hosts == DEFAULT_ATTACHMENT_HOSTS


@pytest.mark.parametrize(("name", "value"), [("FINETUNE_PROVIDER", "anthropic"), ("MAX_ATTACHMENT_BYTES", "25MB")])
def test_bad_values_fail_at_start_up_with_the_variable_named(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_secrets_stay_out_of_repr():
    text = repr(Settings(discord_bot_token="bot-SECRET", openai_api_key="sk-SECRET", openai_webhook_secret="whsec_S"))
    assert "SECRET" not in text and "whsec_S" not in text
