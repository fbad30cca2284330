"""``speech train``: manifests -> trained BiLSTM-CTC -> model package.

Examples (Hydra overrides)::

    speech train experiment=fsdd
    speech train experiment=fsdd trainer.max_epochs=5 model.asr.hidden_size=128 output_dir=exp/small
    speech train data=custom data.train_manifest=data/mine/all.jsonl data.skip_bad=true
    torchrun --nproc_per_node 2 -m speech.cli.main train experiment=fsdd trainer=ddp
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from omegaconf import DictConfig

from speech.config import instantiate
from speech.data.dataset import AsrDataset, BadUtteranceError, DataConfig, collate_asr, split_by_hash
from speech.data.alignments import alignment_tokenizer_path, read_alignments
from speech.data.manifest import ManifestIssue, Utterance, check_manifest, issues_error, write_issues
from speech.features import compute_cmvn_stats
from speech.packages.asr import save_asr_package
from speech.text.tokenizer import CharTokenizer
from speech.train import distributed
from speech.train.checkpoint import average_checkpoints, load_checkpoint, seed_everything
from speech.losses import FrameCELoss
from speech.train.tasks import CETask, CTCTask
from speech.train.trainer import FitResult, Trainer, TrainerConfig, resolve_device

log = logging.getLogger(__name__)

CMVN_MAX_UTTS = 2000
"""Utterances (taken evenly over the training set) used to estimate feature statistics."""

SKIPPED_NAME = "skipped.jsonl"
"""Under ``output_dir``: the manifest lines a ``data.skip_bad=true`` run left out (manifest, line, id, problem)."""


def load_asr_manifests(data: DataConfig, out_dir: Path, is_main: bool = True) -> tuple[list[Utterance],
                                                                                        list[Utterance]]:
    """Check the training (and dev) manifests line by line; returns (train, dev) utterances.

    Transcripts are normalized as ``speech prepare`` does and every line is checked (see
    :func:`speech.data.manifest.check_manifest`). Bad lines stop training with a
    :class:`~speech.data.manifest.ManifestError` whose first line names the first ``manifest:line``
    (each one is also logged), unless ``data.skip_bad``: then they are left out, listed in
    ``out_dir/skipped.jsonl`` (written by the main process) and counted in one log line.
    Without a dev manifest, ``data.dev_fraction`` of the training set is held out.
    """
    if not data.train_manifest or not Path(data.train_manifest).is_file():
        raise FileNotFoundError(
            f"data.train_manifest: {data.train_manifest or '(unset)'} not found; run `speech prepare {data.corpus} "
            f"{data.root or 'SRC'} {data.manifest_dir}` first"
        )
    if data.dev_manifest and not Path(data.dev_manifest).is_file():
        raise FileNotFoundError(f"data.dev_manifest: {data.dev_manifest} not found; expected a JSON-lines manifest "
                                f"(or null to hold out data.dev_fraction of the training set)")
    checks = [check_manifest(data.train_manifest)] + ([check_manifest(data.dev_manifest)] if data.dev_manifest else [])
    issues: list[ManifestIssue] = [i for c in checks for i in c.issues]
    skipped_path = out_dir / SKIPPED_NAME
    if issues and not data.skip_bad:
        for issue in issues[:10]:
            log.error("%s", issue)
        if len(issues) > 10:
            log.error("... and %d more bad manifest lines", len(issues) - 10)
        raise issues_error(issues, hint="fix them, or train without them with data.skip_bad=true")
    if is_main and data.skip_bad:
        if issues:
            write_issues(skipped_path, issues)
            log.warning("data.skip_bad: left out %d bad manifest lines of %d; listed in %s", len(issues),
                        sum(c.lines for c in checks), skipped_path)
        else:
            skipped_path.unlink(missing_ok=True)  # from an earlier run
    train_utts = checks[0].utterances
    if data.max_duration > 0:
        train_utts = [u for u in train_utts if u.duration <= data.max_duration]
    if data.dev_manifest:
        dev_utts = checks[1].utterances
    else:
        train_utts, dev_utts = split_by_hash(train_utts, data.dev_fraction)
    if not train_utts:
        why = f" ({len(checks[0].issues)} bad lines left out, see {skipped_path})" if checks[0].issues else ""
        raise ValueError(f"data.train_manifest: {data.train_manifest} has no usable utterances{why}")
    return train_utts, dev_utts


def _cmvn_features(train_set: AsrDataset, skip_bad: bool):
    """Features of up to CMVN_MAX_UTTS training items, taken evenly; unreadable ones left out with skip_bad."""
    step = max(1, len(train_set) // CMVN_MAX_UTTS)
    for i in range(0, len(train_set), step):
        try:
            yield train_set.features(i)
        except BadUtteranceError:
            if not skip_bad:
                raise


def averaged_sources(result: FitResult, n: int) -> list[Path]:
    """The checkpoints whose mean becomes the model with ``trainer.average_best = n``: the ``n`` best
    kept (ranked by the dev metric) plus the last one, without duplicates; [] when n < 2."""
    if n < 2 or not result.best_ranking:
        return []
    chosen = [Path(p) for p in result.best_ranking[:n]] + [Path(result.last_checkpoint)]
    return list(dict.fromkeys(p for p in chosen if p.is_file()))


def train_asr(cfg: DictConfig, stop_at_step: int | None = None) -> tuple[FitResult, Path | None]:
    """Train an ASR model from a composed config; returns the fit result and the package path (rank 0)."""
    tcfg: TrainerConfig = instantiate(cfg.trainer)
    data: DataConfig = instantiate(cfg.data)
    fbank = instantiate(cfg.features.fbank)
    specaug = instantiate(cfg.features.specaugment) if cfg.features.get("specaugment") else None
    dist_info = distributed.init_distributed(resolve_device(tcfg.device).type)
    out_dir = Path(cfg.output_dir)

    train_utts, dev_utts = load_asr_manifests(data, out_dir, dist_info.is_main)

    show = dist_info.is_main and tcfg.progress
    loss = instantiate(cfg.loss)
    frame_labels = None
    if isinstance(loss, FrameCELoss):
        if not data.alignments:
            raise ValueError("data.alignments: loss=ce needs frame labels; make them with "
                             "`speech align-dataset --model CTC_PACKAGE TRAIN_MANIFEST OUT.jsonl`")
        frame_labels = read_alignments(data.alignments)
        # the labels are ids of the aligning model's vocabulary, saved beside them
        tokenizer = CharTokenizer.load(alignment_tokenizer_path(data.alignments))
        missing = [u.id for u in train_utts if u.id not in frame_labels]
        if missing:
            log.warning("data.alignments: %d training utterances have no frame labels (e.g. %s); skipped",
                        len(missing), missing[0])
            train_utts = [u for u in train_utts if u.id in frame_labels]
    else:
        tokenizer = CharTokenizer.build([u.text for u in train_utts] + [u.text for u in dev_utts])
    train_set = AsrDataset(train_utts, tokenizer, fbank, cache_features=data.cache_features,
                           desc="train features" if show else None, frame_labels=frame_labels,
                           speed_factors=data.speed_perturb if frame_labels is None else (),
                           pad_silence=data.pad_silence if frame_labels is None else 0.0, skip_bad=data.skip_bad,
                           trim_edges=data.trim_edges if frame_labels is None else 0.0,
                           quantize_bits=data.quantize_bits if frame_labels is None else (),
                           noise_snr_db=data.noise_snr_db, noise_prob=data.noise_prob, tilt_db=data.tilt_db,
                           eq_db=data.eq_db, vtlp=data.vtlp, lowpass_hz=data.lowpass_hz,
                           lowpass_prob=data.lowpass_prob)
    dev_labels = frame_labels if frame_labels is not None and all(u.id in frame_labels for u in dev_utts) else None
    dev_set = AsrDataset(dev_utts, tokenizer, fbank, cache_features=data.cache_features,
                         desc="dev features" if show else None, frame_labels=dev_labels,
                         skip_bad=data.skip_bad) if dev_utts else None
    if dev_set is not None and len(dev_set) == 0:
        dev_set = None
    if len(train_set) == 0:
        raise ValueError(f"data.train_manifest: {data.train_manifest}: no training utterance has readable audio")

    mean, std = compute_cmvn_stats(_cmvn_features(train_set, data.skip_bad))

    seed_everything(tcfg.seed)  # identical initial weights in every process
    model = instantiate(cfg.model.asr, input_dim=fbank.n_mels, vocab_size=len(tokenizer), specaugment=specaug)
    model.cmvn.set_stats(mean, std)
    if dist_info.is_main:
        n_params = sum(p.numel() for p in model.parameters())
        log.info("model: %.2fM parameters, vocabulary %d, %d train / %d dev utterances",
                 n_params / 1e6, len(tokenizer), len(train_set), len(dev_set) if dev_set else 0)

    task = CETask(loss, tokenizer) if isinstance(loss, FrameCELoss) else CTCTask(loss, tokenizer)
    trainer = Trainer(tcfg, task, out_dir)
    result = trainer.fit(model, train_set, dev_set, collate_asr, data.batch_size,
                         bucket_size_multiplier=data.bucket_size_multiplier, num_workers=data.num_workers,
                         stop_at_step=stop_at_step)

    package = None
    if dist_info.is_main and (stop_at_step is None or result.steps >= stop_at_step):
        src = result.best_checkpoint or result.last_checkpoint
        ckpt = load_checkpoint(src)
        best_metrics = ckpt.get("metrics", {})
        weights, source = ckpt["model"], src.name
        averaged = averaged_sources(result, tcfg.average_best)
        if len(averaged) > 1:
            weights, source = average_checkpoints(averaged), "mean of " + ", ".join(p.name for p in averaged)
            log.info("model weights: the %s", source)
        package = save_asr_package(out_dir / "model", cfg, tokenizer, weights, meta={
            "checkpoint": source, "steps": result.steps, "epochs": result.epochs_completed,
            "train_seconds": round(result.seconds, 1), "dev_metrics": best_metrics,
            "train_utterances": len(train_set), "world_size": dist_info.world_size,
        })
        (out_dir / "train_summary.json").write_text(json.dumps({
            "package": str(package), "best_checkpoint": str(src), "best_metric": result.best_metric,
            "steps": result.steps, "seconds": round(result.seconds, 1)}, indent=2) + "\n")
        log.info("model package written to %s (from %s)", package, src.name)
    distributed.barrier()
    return result, package
