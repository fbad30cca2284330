"""Training: one Trainer for every task, plus task definitions and the ``speech train`` entry."""
from speech.train.checkpoint import atomic_save, load_checkpoint
from speech.train.tasks import CTCTask, Task
from speech.train.trainer import FitResult, Trainer, TrainerConfig

__all__ = ["atomic_save", "load_checkpoint", "CTCTask", "Task", "FitResult", "Trainer", "TrainerConfig"]
