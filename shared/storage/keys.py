"""Key conventions of the data table: every record's ``pk``/``sk`` is built here and nowhere else."""

from __future__ import annotations


def guild_pk(guild_id: str) -> str:
    return f"GUILD#{guild_id}"


def settings_sk() -> str:
    return "SETTINGS"


def feedback_sk(interaction_id: str) -> str:
    return f"FEEDBACK#{interaction_id}"


def correction_sk(interaction_id: str) -> str:
    return f"CORRECTION#{interaction_id}"


def exchange_sk(message_id: str) -> str:
    """An exchange is keyed by the id of the bot message that carried the answer."""
    return f"EXCHANGE#{message_id}"


def dataset_sk(name: str) -> str:
    return f"DATASET#{name}"


def examples_pk(guild_id: str, dataset: str) -> str:
    return f"DATASET#{guild_id}#{dataset}"


def example_sk(fingerprint: str) -> str:
    return f"EXAMPLE#{fingerprint}"


def job_sk(job_id: str) -> str:
    return f"JOB#{job_id}"


def file_sk(file_id: str) -> str:
    return f"FILE#{file_id}"


def bucket_prefix(guild_id: str) -> str:
    return f"guilds/{guild_id}/"


def voice_settings_sk() -> str:
    """A guild's voice settings (TTS engine, language, idle timeout, clip cap, transcription), under guild_pk."""
    return "VOICE_SETTINGS"


def voice_request_pk(interaction_id: str) -> str:
    """The voice worker's claim on one queued interaction, so a redelivered request does not act twice."""
    return f"VOICEREQ#{interaction_id}"


def voice_request_sk() -> str:
    return "CLAIM"
