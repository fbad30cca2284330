"""One training loop for every task: AdamW, warmup + decay, clipping, AMP, DDP, checkpoints.

A run writes into ``out_dir``::

    checkpoints/last.pt          everything needed to resume exactly (atomic, every N steps and at the end)
    checkpoints/best-*.pt        the best ``keep_best`` models by the task's validation metric
    tensorboard/                 scalars (loss, learning rate, gradient norm, validation metrics)
    training_curves.png          loss and validation metric over steps

Launch under ``torchrun --nproc_per_node N`` and the same code trains data-parallel (DDP):
each process reads its shard of every global batch, gradients are averaged, the learning rate
follows the linear scaling rule over the global batch with gradual warmup.

Beside it: the settings and result types (:mod:`speech.train.trainer_config`, re-exported here),
resuming from checkpoints (:mod:`speech.train.resume`) and the curves plot (:mod:`speech.train.curves`).
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
import warnings
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from speech.data.sampler import BucketBatchSampler
from speech.fileio import remove_stale_tmp
from speech.kernels.threads import set_num_threads
from speech.train import distributed
from speech.train.checkpoint import atomic_save, rng_state
from speech.train.curves import plot_training_curves
from speech.train.resume import RunState
from speech.train.resume import resume as resume_run
from speech.train.schedule import scaled_lr, warmup_decay
from speech.train.tasks import Task
from speech.train.trainer_config import FitResult, TrainerConfig, resolve_device

__all__ = ["FitResult", "Trainer", "TrainerConfig", "resolve_device"]

log = logging.getLogger(__name__)


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class Trainer:
    """Drives a :class:`~speech.train.tasks.Task` over a dataset; see the module docstring.

    Example::

        trainer = Trainer(TrainerConfig(max_epochs=10), CTCTask(CTCLoss(), tokenizer), "exp/run1")
        result = trainer.fit(model, train_set, dev_set, collate_asr, batch_size=32)
    """

    def __init__(self, cfg: TrainerConfig, task: Task, out_dir: str | Path):
        self.cfg = cfg
        self.task = task
        self.out_dir = Path(out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"

    # ------------------------------------------------------------------ public
    def fit(
        self,
        model: nn.Module,
        train_set: Dataset,
        dev_set: Dataset | None,
        collate_fn: Callable,
        batch_size: int,
        *,
        lengths: list[float] | None = None,
        bucket_size_multiplier: int = 50,
        num_workers: int = 0,
        resume: bool = True,
        stop_at_step: int | None = None,
    ) -> FitResult:
        """Train ``model`` and return where the checkpoints are.

        Args:
            lengths: per-utterance lengths for bucketing (default ``train_set.durations``).
            resume: continue from ``checkpoints/last.pt`` when it exists.
            stop_at_step: leave the loop after this step (after writing last.pt), as a preempted
                job would; the schedule still follows the configured length.
        """
        cfg = self.cfg
        self._t_start, self._prior_seconds = time.time(), 0.0
        if cfg.num_threads > 0:
            set_num_threads(cfg.num_threads)  # torch and the numba kernels (CTC loss): one budget, no oversubscription
        device = resolve_device(cfg.device)
        dist_info = distributed.init_distributed(device.type)
        device = resolve_device(cfg.device, dist_info.local_rank)
        self.dist = dist_info
        self.device = device
        main = dist_info.is_main

        model.to(device)
        train_model: nn.Module = model
        if dist_info.enabled:
            train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

        lengths = list(lengths if lengths is not None else train_set.durations)  # type: ignore[attr-defined]
        sampler = BucketBatchSampler(
            lengths, batch_size, shuffle=True, seed=cfg.seed, bucket_size_multiplier=bucket_size_multiplier,
            num_replicas=dist_info.world_size, rank=dist_info.rank,
        )
        loader = DataLoader(
            train_set, batch_sampler=sampler, collate_fn=collate_fn, num_workers=num_workers,
            pin_memory=device.type == "cuda", generator=torch.Generator(),  # never draws from the global RNG
        )
        batches_per_epoch = len(sampler)
        if batches_per_epoch == 0:
            raise ValueError(f"training set has {len(train_set)} utterances: too few for one batch of {batch_size}")
        steps_per_epoch = math.ceil(batches_per_epoch / cfg.accumulate_grad_batches)
        total_steps = cfg.max_steps if cfg.max_steps > 0 else cfg.max_epochs * steps_per_epoch
        max_epochs = cfg.max_epochs if cfg.max_epochs > 0 else math.ceil(total_steps / steps_per_epoch)
        global_batch = batch_size * dist_info.world_size * cfg.accumulate_grad_batches
        peak_lr = scaled_lr(cfg.lr, global_batch, cfg.reference_batch)

        optimizer = torch.optim.AdamW(
            _param_groups(model, cfg.weight_decay), lr=peak_lr, betas=tuple(cfg.betas), eps=cfg.eps
        )
        scheduler = warmup_decay(optimizer, cfg.warmup_steps, total_steps, cfg.schedule, cfg.final_lr_ratio)
        use_amp = device.type == "cuda" and cfg.precision != "fp32"
        amp_dtype = torch.bfloat16 if cfg.precision == "bf16" else torch.float16
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp and cfg.precision == "fp16")

        # Adversarial tasks (a vocoder's GAN) bring a discriminator: it gets its own AdamW and schedule
        # (same settings), is stepped before the generator on every batch, and is checkpointed with it.
        disc = getattr(self.task, "discriminator", None)
        self._extra: dict[str, object] = {}
        train_disc = None
        if disc is not None:
            if cfg.accumulate_grad_batches != 1:
                raise ValueError("trainer.accumulate_grad_batches must be 1 for adversarial (GAN) training")
            disc.to(device)
            train_disc = disc
            if dist_info.enabled:
                train_disc = DistributedDataParallel(disc, device_ids=[device.index] if device.type == "cuda" else None)
            d_optimizer = torch.optim.AdamW(_param_groups(disc, cfg.weight_decay), lr=peak_lr, betas=tuple(cfg.betas),
                                            eps=cfg.eps)
            d_scheduler = warmup_decay(d_optimizer, cfg.warmup_steps, total_steps, cfg.schedule, cfg.final_lr_ratio)
            self._extra = {"discriminator": disc, "d_optimizer": d_optimizer, "d_scheduler": d_scheduler}
            d_params = [p for p in disc.parameters() if p.requires_grad]

        state = {"step": 0, "epoch": 0, "batch_in_epoch": 0, "best": [], "history": {"train": [], "val": []}}
        last_path = self.ckpt_dir / "last.pt"
        if main:
            self._remove_stale_tmp()
        if resume and last_path.is_file():
            run = RunState(model, optimizer, scheduler, scaler, dist_info, seed=cfg.seed, keep_best=cfg.keep_best,
                           accumulate_grad_batches=cfg.accumulate_grad_batches, monitor=self.task.monitor,
                           extra=self._extra)
            state, self._prior_seconds = resume_run(last_path, run, state, steps_per_epoch)
        else:
            # Processes share the initial weights (DDP broadcasts rank 0's) but draw different
            # dropout / augmentation noise.
            torch.manual_seed(cfg.seed + dist_info.rank)

        writer = None
        if main:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.out_dir / "tensorboard"))
            log.info("training: %d utterances, %d batches/epoch/process, world size %d, global batch %d, "
                     "peak lr %.3g, %d steps", len(train_set), batches_per_epoch, dist_info.world_size,
                     global_batch, peak_lr, total_steps)

        params = [p for p in model.parameters() if p.requires_grad]
        stopped = False
        run_loss, run_n, skipped = 0.0, 0, 0
        run_d_loss = 0.0
        while state["epoch"] < max_epochs and state["step"] < total_steps and not stopped:
            sampler.set_epoch(state["epoch"])
            sampler.load_state_dict({"epoch": state["epoch"], "batches_done": state["batch_in_epoch"]})
            bar = tqdm(total=batches_per_epoch, initial=state["batch_in_epoch"], desc=f"epoch {state['epoch'] + 1}",
                       unit="batch", disable=not (main and cfg.progress), leave=False, dynamic_ncols=True)
            for batch in loader:
                batch = batch.to(device, non_blocking=True)
                state["batch_in_epoch"] += 1
                boundary = (state["batch_in_epoch"] % cfg.accumulate_grad_batches == 0
                            or state["batch_in_epoch"] == batches_per_epoch)
                sync = contextlib.nullcontext() if boundary or not dist_info.enabled else train_model.no_sync()
                if hasattr(self.task, "set_step"):
                    self.task.set_step(state["step"])  # e.g. a GAN whose discriminator starts later
                d_out = None
                if train_disc is not None:
                    with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                        d_out = self.task.discriminator_step(train_model, train_disc, batch)
                if d_out is None and train_disc is not None:
                    with warnings.catch_warnings():  # no discriminator update this step; its schedule keeps pace
                        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
                        d_scheduler.step()
                elif d_out is not None:
                    d_optimizer.zero_grad(set_to_none=True)
                    scaler.scale(d_out["loss"]).backward()
                    scaler.unscale_(d_optimizer)
                    d_norm = torch.nn.utils.clip_grad_norm_(
                        d_params, cfg.grad_clip if cfg.grad_clip > 0 else float("inf"))
                    if torch.isfinite(d_norm):
                        scaler.step(d_optimizer)
                    d_scheduler.step()
                    d_optimizer.zero_grad(set_to_none=True)
                    run_d_loss += float(d_out["loss"].detach())
                with sync:
                    with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                        out = self.task.training_step(train_model, batch)
                    loss = out["loss"]
                    scaler.scale(loss / cfg.accumulate_grad_batches).backward()
                run_loss += float(loss.detach())
                run_n += 1
                bar.update(1)
                if not boundary:
                    continue

                scaler.unscale_(optimizer)
                grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip > 0 else float("inf"))
                if torch.isfinite(grad_norm):
                    scaler.step(optimizer)
                else:
                    skipped += 1  # a non-finite gradient never reaches the weights
                    if main:
                        log.warning("step %d: non-finite gradient norm, update skipped", state["step"])
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
                state["step"] += 1
                step = state["step"]

                if step % cfg.log_every == 0 or step == 1:
                    avg = run_loss / max(run_n, 1)
                    lr_now = optimizer.param_groups[0]["lr"]
                    state["history"]["train"].append([step, avg, lr_now])
                    if writer is not None:
                        writer.add_scalar("train/loss", avg, step)
                        writer.add_scalar("train/lr", lr_now, step)
                        writer.add_scalar("train/grad_norm", float(grad_norm), step)
                        writer.add_scalar("train/skipped_steps", skipped, step)
                        if train_disc is not None:
                            writer.add_scalar("train/discriminator_loss", run_d_loss / max(run_n, 1), step)
                        for k, v in out.items():
                            if k != "loss" and torch.is_tensor(v) and v.numel() == 1:
                                writer.add_scalar(f"train/{k}", float(v), step)
                    bar.set_postfix(loss=f"{avg:.3f}", lr=f"{lr_now:.2e}")
                    run_loss, run_n, run_d_loss = 0.0, 0, 0.0

                if cfg.val_every_steps and step % cfg.val_every_steps == 0:
                    self._validate_and_rank(model, dev_set, collate_fn, batch_size, state, writer)
                epoch_done = state["batch_in_epoch"] >= batches_per_epoch
                if cfg.checkpoint_every_steps and step % cfg.checkpoint_every_steps == 0 and not epoch_done:
                    self._save(last_path, model, optimizer, scheduler, scaler, state)
                if step >= total_steps or (stop_at_step is not None and step >= stop_at_step):
                    stopped = step < total_steps
                    break
            bar.close()
            if state["batch_in_epoch"] >= batches_per_epoch:
                state["epoch"] += 1
                state["batch_in_epoch"] = 0
                if not cfg.val_every_steps:
                    self._validate_and_rank(model, dev_set, collate_fn, batch_size, state, writer)
            self._save(last_path, model, optimizer, scheduler, scaler, state)

        if state["step"] >= total_steps and not state["history"]["val"] and dev_set is not None:
            self._validate_and_rank(model, dev_set, collate_fn, batch_size, state, writer)
            self._save(last_path, model, optimizer, scheduler, scaler, state)
        if writer is not None:
            writer.close()
        if main:
            plot_training_curves(state["history"], self.out_dir / "training_curves.png")
        distributed.barrier()
        best = state["best"][0] if state["best"] else None
        return FitResult(
            last_checkpoint=last_path,
            best_checkpoint=self.ckpt_dir / best[2] if best else None,
            best_metric=best[0] if best else None,
            steps=state["step"],
            epochs_completed=state["epoch"],
            seconds=self._prior_seconds + time.time() - self._t_start,
            history=state["history"],
            monitor=self.task.monitor,
            best_ranking=[self.ckpt_dir / b[2] for b in state["best"]],
        )

    @torch.no_grad()
    def validate(self, model: nn.Module, dev_set: Dataset, collate_fn: Callable, batch_size: int) -> dict[str, float]:
        """Run the task's validation over ``dev_set`` (sharded over processes, statistics summed)."""
        sampler = BucketBatchSampler([1.0] * len(dev_set) if not hasattr(dev_set, "durations") else dev_set.durations,
                                     batch_size, shuffle=False, num_replicas=1, rank=0)
        loader = DataLoader(dev_set, batch_sampler=sampler, collate_fn=collate_fn, generator=torch.Generator())
        was_training = model.training
        model.eval()
        sums: dict[str, float] = {}
        for i, batch in enumerate(loader):
            if i % self.dist.world_size != self.dist.rank:
                continue
            for k, v in self.task.validation_step(model, batch.to(self.device)).items():
                sums[k] = sums.get(k, 0.0) + float(v)
        model.train(was_training)
        sums = distributed.all_reduce_sums(sums, self.device if self.device.type == "cuda" else torch.device("cpu"))
        return self.task.validation_metrics(sums) if sums else {}

    # ----------------------------------------------------------------- helpers
    def _validate_and_rank(self, model, dev_set, collate_fn, batch_size, state, writer) -> None:
        if dev_set is None or len(dev_set) == 0:
            return
        metrics = self.validate(model, dev_set, collate_fn, batch_size)
        step = state["step"]
        state["history"]["val"].append([step] + [metrics[k] for k in sorted(metrics)])
        state["history"]["val_keys"] = sorted(metrics)
        if writer is not None:
            for k, v in metrics.items():
                writer.add_scalar(f"val/{k}", v, step)
            if hasattr(self.task, "log_tensorboard"):  # e.g. audio samples and mel plots of a vocoder
                self.task.log_tensorboard(writer, model, dev_set, step)
        if self.dist.is_main:
            log.info("step %d validation: %s", step, ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())))
        value = metrics[self.task.monitor]
        if self.cfg.keep_best <= 0:
            return
        best = state["best"]
        if len(best) < self.cfg.keep_best or value < best[-1][0]:
            name = f"best-step{step:07d}.pt"
            if self.dist.is_main:
                atomic_save({"model": model.state_dict(), "step": step, "metrics": metrics, "epoch": state["epoch"],
                             "batch_in_epoch": state["batch_in_epoch"],
                             "train_seconds": self._prior_seconds + time.time() - self._t_start},
                            self.ckpt_dir / name)
            best.append([value, step, name])
            best.sort(key=lambda b: (b[0], -b[1]))
            while len(best) > self.cfg.keep_best:
                _, _, dropped = best.pop()
                if self.dist.is_main:
                    (self.ckpt_dir / dropped).unlink(missing_ok=True)

    def _save(self, path, model, optimizer, scheduler, scaler, state) -> None:
        rngs = distributed.all_gather_objects(rng_state())
        if not self.dist.is_main:
            return
        atomic_save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "step": state["step"],
                "epoch": state["epoch"],
                "batch_in_epoch": state["batch_in_epoch"],
                "best": state["best"],
                "history": state["history"],
                "rng": rngs,
                "world_size": self.dist.world_size,
                "train_seconds": self._prior_seconds + time.time() - self._t_start,
                **{k: v.state_dict() for k, v in getattr(self, "_extra", {}).items()},
            },
            path,
        )

    def _remove_stale_tmp(self) -> None:
        """Delete temporary files of writes killed mid-way (``.last.pt.*.tmp`` and the like) in the run's folders."""
        for folder in (self.ckpt_dir, self.out_dir, self.out_dir / "model"):
            n, freed = remove_stale_tmp(folder)
            if n:
                log.info("%s: removed %d temporary file(s) left by interrupted writes (%.1f MB freed)", folder, n,
                         freed / 1e6)
