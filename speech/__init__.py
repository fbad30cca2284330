"""Speech toolkit: BiLSTM-CTC recognition and FastSpeech2-style synthesis."""
__version__ = "0.1.0"
