"""Key conventions of the data table: every record's ``pk``/``sk`` is built here and nowhere else."""

from __future__ import annotations


def guild_pk(guild_id: str) -> str:
    return f"GUILD#{guild_id}"


def settings_sk() -> str:
    return "SETTINGS"


def feedback_sk(interaction_id: str) -> str:
    return f"FEEDBACK#{interaction_id}"


def vote_sk(message_id: str, user_id: str) -> str:
    """A 👍 / 👎 on a bot message: one per person per message, under the feedback prefix."""
    return f"FEEDBACK#VOTE#{message_id}#{user_id}"


def correction_sk(interaction_id: str) -> str:
    return f"CORRECTION#{interaction_id}"


def correction_by_sk(message_id: str, user_id: str) -> str:
    """One person's correction of one bot answer: a new one replaces the old (under the corrections prefix)."""
    return f"CORRECTION#{message_id}#{user_id}"


def review_index_pk(guild_id: str) -> str:
    """``gsi1pk`` of what waits for a trainer's review in a guild (a sparse index: decided items leave it)."""
    return f"REVIEW#{guild_id}"


def correction_draft_sk(message_id: str) -> str:
    return f"DRAFT#CORRECTION#{message_id}"


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


def dataset_prefix_sk(prefix: str = "") -> str:
    """Sort-key prefix for listing a guild's datasets whose names start with ``prefix``."""
    return f"DATASET#{prefix}"


def file_prefix_sk(prefix: str = "") -> str:
    return f"FILE#{prefix}"


CORRECTION_PREFIX = "CORRECTION#"
FEEDBACK_PREFIX = "FEEDBACK#"


def archive_key(guild_id: str, dataset: str, version: int, timestamp: str) -> str:
    return f"{bucket_prefix(guild_id)}archives/{dataset}/v{version}-{timestamp}.zip"


def export_key(guild_id: str, name: str, timestamp: str, ext: str) -> str:
    return f"{bucket_prefix(guild_id)}exports/{name}-{timestamp}{ext}"


def voice_settings_sk() -> str:
    """A guild's voice settings (TTS engine, language, idle timeout, clip cap, transcription), under guild_pk."""
    return "VOICE_SETTINGS"


def voice_request_pk(interaction_id: str) -> str:
    """The voice worker's claim on one queued interaction, so a redelivered request does not act twice."""
    return f"VOICEREQ#{interaction_id}"


def voice_request_sk() -> str:
    return "CLAIM"


def archive_request_sk(interaction_id: str) -> str:
    """Which archive an /archive request made, so that a redelivery does not make a second version."""
    return f"REQUEST#ARCHIVE#{interaction_id}"


# --- fine-tune jobs ------------------------------------------------------------------------------------------

# The index the watcher reads active jobs from, across guilds, without a scan.
ACTIVE_JOBS_INDEX = "gsi1"
ACTIVE_JOBS_PK = "FTJOB#ACTIVE"
MODEL_PREFIX = "FTMODEL#"


def active_job_sk(created_at: str, guild_id: str, request_id: str) -> str:
    return f"{created_at}#{guild_id}#{request_id}"


def provider_job_pk(provider: str, job_id: str) -> str:
    """The pointer from a provider's job id back to the guild's job record (webhooks name only the job)."""
    return f"FTJOB#{provider}#{job_id}"


def model_sk(finished_at: int, request_id: str) -> str:
    """A guild's fine-tuned model, newest last by the job's finish time."""
    return f"{MODEL_PREFIX}{finished_at:012d}#{request_id}"


def voice_worker_pk() -> str:
    return "VOICE_WORKER"


def voice_worker_sk(queue_index: int) -> str:
    """One presence record per voice queue (shard): the worker polling that queue keeps it fresh."""
    return f"QUEUE#{queue_index}"
