"""``training_curves.png``: the training loss and the validation metrics of a run, over steps."""
from __future__ import annotations

from pathlib import Path

__all__ = ["plot_training_curves"]


def plot_training_curves(history: dict, path: Path) -> None:
    """Draw ``history`` (the trainer's ``{"train": [[step, loss, lr], ...], "val": [[step, *values], ...],
    "val_keys": [...]}``) into ``path``. Nothing is drawn without training rows or without matplotlib."""
    if not history.get("train"):
        return
    try:
        import matplotlib  # local: plotting is optional and matplotlib is slow to import

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:  # noqa: BLE001 - plotting is a convenience
        return
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    tr = history["train"]
    ax[0].plot([r[0] for r in tr], [r[1] for r in tr])
    ax[0].set(xlabel="step", ylabel="training loss", yscale="log", title="training loss")
    if history.get("val"):
        keys = history.get("val_keys", [])
        for j, k in enumerate(keys):
            if k != "loss":
                ax[1].plot([r[0] for r in history["val"]], [r[1 + j] for r in history["val"]], marker="o", label=k)
        ax[1].set(xlabel="step", ylabel="error rate", title="validation")
        ax[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
