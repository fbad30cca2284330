"""Training criteria: plain functions plus thin Modules."""
from speech.losses.ce import IGNORE, FrameCELoss, frame_ce_loss
from speech.losses.ctc import CTC_IMPLS, CTCLoss, ctc_loss

__all__ = ["IGNORE", "FrameCELoss", "frame_ce_loss", "CTC_IMPLS", "CTCLoss", "ctc_loss"]
