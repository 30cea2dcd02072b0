"""Slow work leaves the handler here: a task on a queue, and a deferred (type 5) answer at once.

The worker (or the voice worker) edits the deferred answer through the interaction webhook when it is done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.contracts.sharding import voice_queue_url_for_guild
from shared.errors import BotError

from . import responses
from .context import InteractionContext

if TYPE_CHECKING:
    from shared.contracts.messages import TaskKind, VoiceKind

VOICE_NOT_DEPLOYED = ("Voice is not deployed for this bot. Whoever runs it can add the voice worker: build and push "
                      "its image with `make voice-image`, then deploy with that image URI (see the README).")


def defer_task(ctx: InteractionContext, kind: TaskKind, args: Any = None, *,
              ephemeral: bool = False) -> dict[str, Any]:
    # The queue contract is imported by the commands that queue work, not by the app: PING never needs it.
    from shared.contracts.enqueue import enqueue_task
    from shared.contracts.messages import TaskRequest

    enqueue_task(ctx.stores.aws.sqs, ctx.settings.jobs_queue_url, TaskRequest(kind, ctx.ref(), args))
    return responses.deferred(ephemeral=ephemeral)


def defer_voice(ctx: InteractionContext, kind: VoiceKind, args: Any = None, *,
                ephemeral: bool = True) -> dict[str, Any]:
    if not ctx.settings.voice_queue_urls:
        # The stack was deployed without the voice worker's image: nothing would ever take the request.
        raise BotError(VOICE_NOT_DEPLOYED)
    ref = ctx.ref()
    # Voice commands are guild-only (checked before this); the guild's shard picks the queue (one URL: always it).
    queue_url = voice_queue_url_for_guild(ref.guild_id or 0, ctx.settings.voice_queue_urls)
    status = ctx.stores.voice_presence.status(ctx.settings.voice_queue_urls.index(queue_url))
    if not status.running:
        return responses.reply(f"Voice is off: {status.reason.rstrip('.')}.", ephemeral=True)
    from shared.contracts.enqueue import enqueue_voice
    from shared.contracts.messages import VoiceRequest

    enqueue_voice(ctx.stores.aws.sqs, queue_url, VoiceRequest(kind, ref, args))
    return responses.deferred(ephemeral=ephemeral)
