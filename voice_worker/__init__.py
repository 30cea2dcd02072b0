"""The long-running voice worker: holds the gateway connection, takes VoiceRequests off the voice queue, joins,
leaves and speaks in voice channels, and transcribes voice messages. Run it with ``python -m voice_worker``."""
