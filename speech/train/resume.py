"""Resuming a run: restoring ``checkpoints/last.pt``, or, when it is unreadable, the newest intact best checkpoint.

Called by :meth:`speech.train.trainer.Trainer.fit`; messages go to the trainer's logger
(``speech.train.trainer``). A broken file is renamed ``<name>.corrupt-<time>`` (never deleted).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from speech.train import distributed
from speech.train.checkpoint import CheckpointError, load_checkpoint, set_aside, set_rng_state

__all__ = ["RunState", "resume"]

log = logging.getLogger("speech.train.trainer")


@dataclass
class RunState:
    """What a checkpoint restores into, and the settings resuming needs.

    ``extra`` holds the adversarial parts (``discriminator``, ``d_optimizer``, ``d_scheduler``), each
    saved under its key beside the model's."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    dist: distributed.DistInfo
    seed: int
    keep_best: int
    accumulate_grad_batches: int
    monitor: str
    extra: dict[str, object] = field(default_factory=dict)


def resume(last_path: Path, run: RunState, state: dict, steps_per_epoch: int) -> tuple[dict, float]:
    """State to continue from: ``last.pt``, or when that is unreadable, the newest intact ``best-step*.pt``.

    Args:
        last_path: ``<out_dir>/checkpoints/last.pt`` (it exists).
        run: the parts to load into and the run's settings.
        state: the fresh loop state (its keys are the ones restored).
        steps_per_epoch: optimizer steps per epoch, for checkpoints that predate the epoch counters.

    Returns:
        ``(state, train_seconds)``: the loop state and the training time already spent.

    Raises:
        CheckpointError: one line when no checkpoint is intact (naming the files kept aside).
        ValueError: one line when the checkpoint was written for a different model or optimizer.
    """
    main = run.dist.is_main
    try:
        ckpt = load_checkpoint(last_path, map_location="cpu")
    except CheckpointError as e:
        why = str(e).split("cannot read checkpoint: ", 1)[-1]
    else:
        restored = restore(last_path, ckpt, run, state)
        if main:
            log.info("resumed from %s at step %d (epoch %d, batch %d)", last_path, restored[0]["step"],
                     restored[0]["epoch"], restored[0]["batch_in_epoch"])
        return restored
    return _from_best(last_path, why, run, steps_per_epoch)


def _step_of(p: Path) -> int:
    m = re.fullmatch(r"best-step(\d+)\.pt", p.name)
    return int(m.group(1)) if m else -1


def _from_best(last_path: Path, why: str, run: RunState, steps_per_epoch: int) -> tuple[dict, float]:
    """last.pt is unreadable: every process has seen that before it is moved; all read the same candidates."""
    main = run.dist.is_main
    ckpt_dir = last_path.parent
    candidates = sorted((p for p in ckpt_dir.glob("best-step*.pt") if _step_of(p) >= 0), key=_step_of, reverse=True)
    intact: list[tuple[Path, dict]] = []
    broken: list[Path] = []
    for p in candidates:
        try:
            intact.append((p, load_checkpoint(p, map_location="cpu")))
        except CheckpointError:
            broken.append(p)
    distributed.barrier()
    moved = set_aside(last_path) if main else last_path
    moved_broken = [set_aside(p) for p in broken] if main else broken
    moved = Path(distributed.all_gather_objects(str(moved))[0])
    if not intact:
        kept = ", ".join(p.name for p in [moved, *moved_broken])
        raise CheckpointError(
            f"{last_path}: cannot resume: {why}; no intact best-step*.pt beside it either. Kept in "
            f"{ckpt_dir}: {kept}. To start fresh remove {ckpt_dir} or set output_dir to a new folder")
    src, ckpt = intact[0]
    try:
        run.model.load_state_dict(ckpt["model"])
    except (RuntimeError, ValueError, KeyError) as e:
        raise ValueError(f"{src}: cannot resume, the checkpoint was written for a different model ({_detail(e)}); "
                         f"train into a new output_dir or move {ckpt_dir} away") from None
    step = int(ckpt["step"])
    epoch = int(ckpt.get("epoch", step // steps_per_epoch))
    batch = int(ckpt.get("batch_in_epoch", (step % steps_per_epoch) * run.accumulate_grad_batches))
    schedules = [(run.scheduler, run.optimizer)] + [(v, run.extra.get(k.replace("_scheduler", "_optimizer")))
                                                    for k, v in run.extra.items() if k.endswith("_scheduler")]
    for sched, opt in schedules:
        sched.last_epoch = step  # the schedule continues where the run was, the optimizer's moments start anew
        for g, base, fn in zip(opt.param_groups, sched.base_lrs, sched.lr_lambdas):
            g["lr"] = base * fn(step)
        sched._last_lr = [g["lr"] for g in opt.param_groups]
    best = sorted(([float(c["metrics"][run.monitor]), int(c["step"]), p.name] for p, c in intact
                   if run.monitor in c.get("metrics", {})), key=lambda b: (b[0], -b[1]))
    torch.manual_seed(run.seed + 1000 * step + run.dist.rank)
    if main:
        log.warning("%s is unreadable (%s): kept as %s; resuming from %s at step %d (optimizer state starts "
                    "afresh)", last_path, why, moved.name, src, step)
    state = {"step": step, "epoch": epoch, "batch_in_epoch": batch, "best": best[: max(run.keep_best, 0)],
             "history": {"train": [], "val": []}}
    return state, float(ckpt.get("train_seconds", 0.0))


def _detail(e: BaseException) -> str:
    """The first informative line of torch's load_state_dict error."""
    return next((ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()), str(e).splitlines()[0])


def restore(path: Path, ckpt: dict, run: RunState, state: dict) -> tuple[dict, float]:
    """Load a readable checkpoint into ``run``'s parts and the RNGs; returns ``(state, train_seconds)``."""
    try:
        run.model.load_state_dict(ckpt["model"])
        run.optimizer.load_state_dict(ckpt["optimizer"])
    except (RuntimeError, ValueError, KeyError) as e:
        raise ValueError(f"{path}: cannot resume, the checkpoint was written for a different model or "
                         f"optimizer ({_detail(e)}); train into a new output_dir or delete {path.parent}") from None
    run.scheduler.load_state_dict(ckpt["scheduler"])
    for k, obj in run.extra.items():
        if k not in ckpt:
            raise ValueError(f"{path}: cannot resume, the checkpoint has no {k} state (it was not written by "
                             "an adversarial run); train into a new output_dir")
        obj.load_state_dict(ckpt[k])
    if ckpt.get("scaler"):
        run.scaler.load_state_dict(ckpt["scaler"])
    rngs = ckpt["rng"]
    if len(rngs) == run.dist.world_size:
        set_rng_state(rngs[run.dist.rank])
    else:  # resumed with a different number of processes: same data order, fresh noise
        log.warning("%s was written by %d processes, resuming with %d: augmentation noise will differ",
                    path, len(rngs), run.dist.world_size)
        set_rng_state(rngs[0])
        torch.manual_seed(run.seed + 1000 * ckpt["step"] + run.dist.rank)
    restored = {k: ckpt[k] for k in state} | {"history": ckpt.get("history", state["history"])}
    return restored, float(ckpt.get("train_seconds", 0.0))
