"""Training criteria: plain functions plus thin Modules."""
from speech.losses.ctc import CTC_IMPLS, CTCLoss, ctc_loss

__all__ = ["CTC_IMPLS", "CTCLoss", "ctc_loss"]
