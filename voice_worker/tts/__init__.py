"""Text-to-speech engines behind one interface, and the synthesizer that picks one per guild with espeak-ng as
the offline fallback."""

from voice_worker.tts.base import Clip, SpeechEngine
from voice_worker.tts.espeak import EspeakEngine
from voice_worker.tts.gtts_engine import GttsEngine
from voice_worker.tts.polly import PollyEngine
from voice_worker.tts.synthesizer import Synthesizer, build_engines

__all__ = ["Clip", "EspeakEngine", "GttsEngine", "PollyEngine", "SpeechEngine", "Synthesizer", "build_engines"]
