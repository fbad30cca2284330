"""ASR acoustic models."""
from speech.models.asr.bilstm import BiLSTMCTC, BiLSTMConfig, BiLSTMEncoder, bilstm_ctc

__all__ = ["BiLSTMCTC", "BiLSTMConfig", "BiLSTMEncoder", "bilstm_ctc"]
