"""Errors of the voice worker. Each one is a BotError, so its user_message is what the caller reads."""

from __future__ import annotations

from shared.errors import BotError, UpstreamError


class VoiceConnectRefused(BotError):
    """Discord (or the channel's permissions) refused the voice connection: retrying will not help."""

    user_message = "Discord refused the voice connection."


class VoiceConnectTimeout(BotError):
    """A voice connection attempt did not complete in time; another attempt may succeed."""

    user_message = "Connecting to voice timed out."


class PlaybackFailed(BotError):
    user_message = "I could not play that clip."


class SpeechFailed(UpstreamError):
    """A text-to-speech engine failed (network, quota, rate limit)."""

    user_message = "I could not turn that text into speech. Please try again in a minute."


class RateLimited(SpeechFailed):
    user_message = "The speech service is rate-limiting me. Please try again in a minute."


class TranscriptionFailed(UpstreamError):
    user_message = "I could not transcribe that audio."
