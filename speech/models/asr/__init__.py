"""ASR acoustic models."""
from speech.models.asr.bilstm import BiLSTMConfig, BiLSTMCTC, BiLSTMEncoder, bilstm_ctc
from speech.models.asr.mi_lstm import BiMILSTM, reverse_within_lengths

__all__ = ["BiLSTMCTC", "BiLSTMConfig", "BiLSTMEncoder", "BiMILSTM", "bilstm_ctc", "reverse_within_lengths"]
