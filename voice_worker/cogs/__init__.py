"""Features of the voice worker, one cog each, loaded by VoiceBot.setup_hook."""
