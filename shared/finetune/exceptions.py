"""Errors of the fine-tuning package, each rooted in :class:`shared.errors.BotError`.

Each carries the short message a Discord user sees; ``retryable`` tells the worker whether another delivery of the
queued job may succeed.
"""

from __future__ import annotations

from shared.errors import BotError, ConfigError, InvalidInput, NotFound, UpstreamError


class FineTuneError(BotError):
    user_message = "Fine-tuning failed. Please try again later."


class FineTuningUnavailable(FineTuneError):
    """The provider refuses fine-tuning for this account: a normal outcome, not a crash."""

    user_message = (
        "The model provider does not allow fine-tuning for this account. "
        "An admin can switch the bot to another provider (FINETUNE_PROVIDER)."
    )
    retryable = False


class ProviderBusy(UpstreamError, FineTuneError):
    """Rate limit, server error or timeout after the client's own retries: worth another delivery."""

    user_message = "The model provider is busy or failing right now. Please try again in a minute."
    retryable = True


class ProviderRejected(FineTuneError):
    """The provider refused the request itself (bad file, unknown model, ...); retrying will not help."""

    user_message = "The model provider rejected the request."
    retryable = False


class NothingToTrain(InvalidInput, FineTuneError):
    user_message = (
        "This dataset has no examples that can be trained on. Add positive examples or corrections."
    )


class UnknownModel(InvalidInput, FineTuneError):
    user_message = "That model is not configured for fine-tuning here."


class JobNotFound(NotFound, FineTuneError):
    user_message = "I can't find that fine-tuning job."


class InferenceFailed(UpstreamError, FineTuneError):
    user_message = "The model did not answer. Please try again in a minute."


class WebhookRejected(FineTuneError):
    """A webhook delivery whose signature or timestamp does not verify. Answered with 400, never processed."""

    user_message = "Webhook signature did not verify."
    retryable = False


class CatalogError(ConfigError):
    """The model catalog file is missing or malformed: a deployment error raised at start-up."""


class NotConfigured(FineTuneError):
    """A setting the chosen provider needs is missing: told to the user plainly, logged for the admin."""

    user_message = (
        "Fine-tuning is not fully configured on this deployment. Ask an admin to check the settings."
    )
    retryable = False
