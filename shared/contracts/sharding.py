"""Which gateway shard, and so which voice worker, holds a guild.

Discord assigns a guild to shard ``(guild_id >> 22) % shard_count``. Voice for a guild can only be driven by the
gateway connection of that shard, so the interactions function puts a voice request on that shard's queue and
each voice worker polls only its own queue (voice_worker/README.md, "Sharding").
"""

from __future__ import annotations

from collections.abc import Sequence


def shard_for_guild(guild_id: int | str, shard_count: int) -> int:
    if shard_count < 1:
        raise ValueError("shard_count must be at least 1")
    return (int(guild_id) >> 22) % shard_count


def voice_queue_url_for_guild(guild_id: int | str, queue_urls: Sequence[str]) -> str:
    """The voice queue of the shard that holds the guild: ``queue_urls[i]`` is shard ``i``'s queue."""
    if not queue_urls:
        raise ValueError("no voice queue configured")
    return queue_urls[shard_for_guild(guild_id, len(queue_urls))]


def worker_queue_url(queue_urls: Sequence[str], shard_id: int) -> str:
    """The queue a voice worker polls: the only one, or its own shard's when there is one per shard."""
    if not queue_urls:
        raise ValueError("no voice queue configured")
    return queue_urls[0] if len(queue_urls) == 1 else queue_urls[shard_id]
