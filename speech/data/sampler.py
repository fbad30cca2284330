"""Length-bucketing batch sampler with DDP sharding and mid-epoch resume.

Used as ``DataLoader(dataset, batch_sampler=BucketBatchSampler(lengths, batch_size))``. Batches
hold utterances of similar length, so padding is small, while the batch order stays random.

How an epoch is built (identical on every rank; only the final slicing depends on the rank):

1. permute all indices with a ``torch.Generator`` seeded ``seed + epoch`` (never the global RNG);
2. cut the permutation into chunks of ``batch_size * num_replicas * bucket_size_multiplier``
   indices and sort each chunk by length (stable);
3. cut each sorted chunk into *global* batches of ``batch_size * num_replicas`` indices;
4. complete the one incomplete global batch (if any): dropped with ``drop_last``; with several
   replicas it is padded by wrapping around to the first indices of the epoch's permutation
   (like ``DistributedSampler``, so some utterances appear twice), and re-sorted by length; with
   one replica it stays a smaller batch;
5. shuffle the order of the global batches with the same generator;
6. rank ``r`` takes ``global[r * batch_size:(r + 1) * batch_size]`` of each global batch.

With ``shuffle=False`` step 1 is skipped and all indices are sorted by length at once
(ascending, ties in index order), and batch order is not shuffled: a deterministic sorted order,
e.g. for validation.

A sampler with ``num_replicas=R, batch_size=B`` produces, per global batch, exactly the indices
of the single-process sampler with ``batch_size=B*R`` and the same seed, split among the ranks.

Resuming: :meth:`state_dict` records the epoch and the number of batches yielded so far in it;
after :meth:`load_state_dict`, the next iteration of that epoch skips those batches. Note that a
``DataLoader`` with workers draws batches from the sampler ahead of the training loop (up to
``num_workers * prefetch_factor``), so a trainer that wants exact resumption should store the
number of batches it has *consumed* as ``batches_done`` rather than the sampler's own count.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

__all__ = ["BucketBatchSampler"]


def _default_replicas(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    dist = torch.distributed
    initialized = dist.is_available() and dist.is_initialized()
    if num_replicas is None:
        num_replicas = dist.get_world_size() if initialized else 1
    if rank is None:
        rank = dist.get_rank() if initialized else 0
    return int(num_replicas), int(rank)


class BucketBatchSampler(Sampler[list[int]]):
    """Yields lists of dataset indices of similar length, for this rank (see module docstring).

    Attributes:
        epoch: the epoch whose batches :meth:`__iter__` yields (set with :meth:`set_epoch`).
        start_batch: batch index where the next iteration of ``epoch`` starts (resume position);
            back to 0 after a full pass.
        batches_done: batches of ``epoch`` yielded so far (including skipped resumed ones).
    """

    def __init__(
        self,
        lengths: Sequence[float],
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        bucket_size_multiplier: int = 50,
        drop_last: bool = False,
        num_replicas: int | None = None,
        rank: int | None = None,
    ):
        """Create the sampler.

        Args:
            lengths: one length per dataset item (seconds, frames or tokens; only the order
                matters), in dataset order.
            batch_size: items per batch on each rank.
            shuffle: randomize membership and order of batches per epoch; False gives one fixed
                length-sorted order.
            seed: base seed; epoch ``e`` uses ``seed + e``. Must be the same on every rank.
            bucket_size_multiplier: a bucket (sorted chunk) holds this many global batches.
                Larger = less padding, less randomness.
            drop_last: drop the incomplete last global batch instead of keeping (one replica)
                or padding (several replicas) it.
            num_replicas: number of DDP processes; default: the torch.distributed world size
                when initialized, else 1.
            rank: this process's rank in ``0..num_replicas-1``; default: the torch.distributed
                rank when initialized, else 0.

        Raises:
            ValueError: for a non-positive batch size / multiplier / replica count or a rank
                outside ``0..num_replicas-1``.
        """
        if int(batch_size) < 1:
            raise ValueError(f"batch_size is {batch_size}; expected an integer >= 1")
        if int(bucket_size_multiplier) < 1:
            raise ValueError(f"bucket_size_multiplier is {bucket_size_multiplier}; expected an integer >= 1")
        num_replicas, rank = _default_replicas(num_replicas, rank)
        if num_replicas < 1:
            raise ValueError(f"num_replicas is {num_replicas}; expected an integer >= 1")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank is {rank}; expected 0..{num_replicas - 1}")
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.float64)
        if self.lengths.ndim != 1:
            raise ValueError(f"lengths has shape {tuple(self.lengths.shape)}; expected one number per item")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.bucket_size_multiplier = int(bucket_size_multiplier)
        self.drop_last = bool(drop_last)
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.start_batch = 0
        self.batches_done = 0

    # -- epoch plan -------------------------------------------------------------------------

    def _global_batches(self, epoch: int) -> list[list[int]]:
        """All global batches (size batch_size * num_replicas) of ``epoch``, in yield order."""
        n = len(self.lengths)
        gsize = self.batch_size * self.num_replicas
        if n == 0:
            return []
        gen = torch.Generator()
        gen.manual_seed(self.seed + epoch)
        if self.shuffle:
            perm = torch.randperm(n, generator=gen)
            chunk = gsize * self.bucket_size_multiplier
            pieces = []
            for lo in range(0, n, chunk):
                idx = perm[lo:lo + chunk]
                pieces.append(idx[torch.sort(self.lengths[idx], stable=True).indices])
            ordered = torch.cat(pieces).tolist()
        else:
            perm = torch.arange(n)
            ordered = torch.sort(self.lengths, stable=True).indices.tolist()
        batches = [ordered[lo:lo + gsize] for lo in range(0, n, gsize)]
        if len(batches[-1]) < gsize:
            if self.drop_last:
                batches.pop()
            elif self.num_replicas > 1:
                need = gsize - len(batches[-1])
                first = perm.tolist()
                pad = (first * (need // n + 1))[:need]
                last = batches[-1] + pad
                batches[-1] = sorted(last, key=lambda i: self.lengths[i].item())
        if self.shuffle and len(batches) > 1:
            order = torch.randperm(len(batches), generator=gen).tolist()
            batches = [batches[i] for i in order]
        return batches

    def _rank_batches(self, epoch: int) -> list[list[int]]:
        lo, hi = self.rank * self.batch_size, (self.rank + 1) * self.batch_size
        return [b[lo:hi] for b in self._global_batches(epoch)]

    # -- Sampler API ------------------------------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch to iterate. A different epoch than the current one starts at its
        first batch; setting the current epoch again keeps a resume position loaded with
        :meth:`load_state_dict`."""
        epoch = int(epoch)
        if epoch != self.epoch:
            self.epoch = epoch
            self.start_batch = 0
            self.batches_done = 0

    def __iter__(self) -> Iterator[list[int]]:
        """Yield this rank's batches of the current epoch, from :attr:`start_batch` on."""
        batches = self._rank_batches(self.epoch)
        start = min(self.start_batch, len(batches))
        self.batches_done = start
        for i in range(start, len(batches)):
            self.batches_done = i + 1
            yield batches[i]
        self.start_batch = 0

    def __len__(self) -> int:
        """Batches per epoch for this rank (all of them, regardless of a resume position)."""
        n = len(self.lengths)
        gsize = self.batch_size * self.num_replicas
        return n // gsize if self.drop_last else -(-n // gsize)

    def state_dict(self) -> dict:
        """``{"epoch": int, "batches_done": int}``: where this epoch's iteration stands."""
        return {"epoch": self.epoch, "batches_done": self.batches_done}

    def load_state_dict(self, state: dict) -> None:
        """Resume: the next :meth:`__iter__` of ``state["epoch"]`` skips ``state["batches_done"]`` batches.

        Raises:
            ValueError: when ``state`` lacks the keys or holds negative / non-integer values.
        """
        try:
            epoch, done = state["epoch"], state["batches_done"]
        except (KeyError, TypeError):
            raise ValueError(f"sampler state {state!r}; expected a dict with 'epoch' and 'batches_done'") from None
        if isinstance(epoch, bool) or isinstance(done, bool) or int(epoch) != epoch or int(done) != done or done < 0:
            raise ValueError(f"sampler state {state!r}; expected integer epoch and batches_done >= 0")
        self.epoch = int(epoch)
        self.start_batch = self.batches_done = int(done)
