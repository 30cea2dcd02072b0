"""One root error for everything the bot turns into a reply.

Each subclass carries the short message the user sees (ephemeral); one place, the interaction dispatcher (and the
worker for deferred jobs), turns them into replies. Anything that is not a :class:`BotError` is a bug: it is
logged with its traceback and the user gets a generic apology, never the trace.
"""

from __future__ import annotations


class BotError(Exception):
    user_message = "Something went wrong. Please try again."
    # Whether a queued job that failed with this error is worth another delivery.
    retryable = False

    def __init__(self, user_message: str | None = None, *, detail: str | None = None) -> None:
        if user_message is not None:
            self.user_message = user_message
        super().__init__(detail or self.user_message)


class InvalidInput(BotError):
    user_message = "That input is not valid."


class NotFound(BotError):
    user_message = "Not found."


class Forbidden(BotError):
    user_message = "You do not have permission to do that."


class UnknownInteraction(BotError):
    user_message = "I don't know that command or button. It may be from an older version of the bot."


class NotSaved(BotError):
    user_message = "Not saved, please try again."
    retryable = True


class UpstreamError(BotError):
    """A service the bot depends on (Discord, a model provider, AWS) failed."""

    user_message = "A service I depend on failed. Please try again in a minute."
    retryable = True


class ConfigError(Exception):
    """The deployment is misconfigured. Raised at start-up; never shown to a Discord user."""
