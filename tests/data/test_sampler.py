"""Tests for speech.data.sampler.BucketBatchSampler."""

from __future__ import annotations

import random

import pytest
import torch

from speech.data.sampler import BucketBatchSampler


def make_lengths(n: int = 1000, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(0.5, 20.0) for _ in range(n)]


def padding(batches: list[list[int]], lengths: list[float]) -> float:
    """Total padded length: sum over batches of (max length * batch size - sum of lengths)."""
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


def test_every_index_once_per_epoch_single_replica():
    lengths = make_lengths(1003)
    s = BucketBatchSampler(lengths, 16, bucket_size_multiplier=4)
    for epoch in range(3):
        s.set_epoch(epoch)
        batches = list(s)
        assert len(batches) == len(s) == 63  # ceil(1003 / 16)
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(1003))
        assert sorted(len(b) for b in batches)[0] == 1003 % 16 and all(len(b) <= 16 for b in batches)


def test_drop_last_single_replica():
    s = BucketBatchSampler(make_lengths(1003), 16, drop_last=True)
    batches = list(s)
    assert len(batches) == len(s) == 62 and all(len(b) == 16 for b in batches)
    assert len({i for b in batches for i in b}) == 62 * 16


def test_bucketing_reduces_padding_and_sorts_within_batches():
    lengths = make_lengths(2000)
    s = BucketBatchSampler(lengths, 20, bucket_size_multiplier=10)
    batches = list(s)
    perm = list(range(2000))
    random.Random(1).shuffle(perm)
    random_batches = [perm[i:i + 20] for i in range(0, 2000, 20)]
    assert padding(batches, lengths) < 0.2 * padding(random_batches, lengths)
    assert all(lengths[b[k]] <= lengths[b[k + 1]] for b in batches for k in range(len(b) - 1))


def test_epochs_differ_same_seed_same_order_no_global_rng():
    lengths = make_lengths(500)
    a = BucketBatchSampler(lengths, 8, seed=3)
    b = BucketBatchSampler(lengths, 8, seed=3)
    torch.manual_seed(123)
    first = list(a)
    torch.manual_seed(456)  # the global RNG must not matter
    assert list(b) == first
    a.set_epoch(1)
    assert list(a) != first
    assert list(BucketBatchSampler(lengths, 8, seed=4)) != first
    rng_state = torch.get_rng_state()
    list(a)
    assert torch.equal(torch.get_rng_state(), rng_state)  # nor be consumed


def test_no_shuffle_is_sorted_and_deterministic():
    lengths = make_lengths(101)
    s = BucketBatchSampler(lengths, 10, shuffle=False)
    s.set_epoch(5)
    batches = list(s)
    flat = [i for b in batches for i in b]
    assert flat == sorted(range(101), key=lambda i: lengths[i])
    assert [len(b) for b in batches] == [10] * 10 + [1]


@pytest.mark.parametrize("n, world, drop_last", [(960, 4, False), (1003, 4, False), (1003, 3, True), (5, 4, False)])
def test_ddp_ranks_partition_the_single_process_global_batches(n, world, drop_last):
    lengths = make_lengths(n)
    bs, mult = 8, 3
    single = BucketBatchSampler(lengths, bs * world, seed=7, bucket_size_multiplier=mult, drop_last=drop_last,
                                num_replicas=1, rank=0)
    ranks = [BucketBatchSampler(lengths, bs, seed=7, bucket_size_multiplier=mult, drop_last=drop_last,
                                num_replicas=world, rank=r) for r in range(world)]
    for epoch in (0, 1):
        single.set_epoch(epoch)
        for s in ranks:
            s.set_epoch(epoch)
        expected = list(single)
        per_rank = [list(s) for s in ranks]
        assert {len(p) for p in per_rank} == {len(expected)} == {len(s) for s in ranks}
        seen = []
        for k, global_batch in enumerate(expected):
            parts = [p[k] for p in per_rank]
            assert all(len(part) == bs for part in parts)  # equal-size batches on every rank
            union = [i for part in parts for i in part]
            seen += union
            if len(global_batch) == bs * world:
                assert union == global_batch  # rank r holds global[r*bs:(r+1)*bs]
            else:  # incomplete last global batch: padded by wrapping around
                assert set(global_batch) <= set(union) and len(union) == bs * world
        if not drop_last:
            assert set(seen) == set(range(n))
            assert len(seen) == len(expected) * bs * world


def test_defaults_to_one_replica_without_distributed():
    s = BucketBatchSampler([1.0] * 10, 4)
    assert (s.num_replicas, s.rank) == (1, 0)
    with pytest.raises(ValueError, match="rank"):
        BucketBatchSampler([1.0] * 10, 4, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="batch_size"):
        BucketBatchSampler([1.0] * 10, 0)


@pytest.mark.parametrize("world", [1, 2])
def test_resume_mid_epoch_yields_exactly_the_remaining_batches(world):
    lengths = make_lengths(300)
    s = BucketBatchSampler(lengths, 8, seed=11, num_replicas=world, rank=world - 1)
    s.set_epoch(2)
    full = list(s)
    assert s.state_dict() == {"epoch": 2, "batches_done": len(full)}
    it = iter(s)
    consumed = [next(it) for _ in range(7)]
    state = s.state_dict()
    assert state == {"epoch": 2, "batches_done": 7} and consumed == full[:7]

    fresh = BucketBatchSampler(lengths, 8, seed=11, num_replicas=world, rank=world - 1)
    fresh.load_state_dict(state)
    fresh.set_epoch(2)  # setting the same epoch again keeps the resume position
    rest = list(fresh)
    assert rest == full[7:]
    assert fresh.state_dict() == {"epoch": 2, "batches_done": len(full)}
    assert list(fresh) == full  # after a full pass the next one starts from the beginning
    fresh.set_epoch(3)
    assert fresh.state_dict() == {"epoch": 3, "batches_done": 0}


def test_works_as_dataloader_batch_sampler():
    lengths = make_lengths(50)
    data = torch.arange(50)
    loader = torch.utils.data.DataLoader(data, batch_sampler=BucketBatchSampler(lengths, 6))
    seen = torch.cat(list(loader))
    assert sorted(seen.tolist()) == list(range(50)) and len(loader) == 9


def test_load_state_dict_validates():
    s = BucketBatchSampler([1.0] * 10, 4)
    for bad in ({}, {"epoch": 1}, {"epoch": 0, "batches_done": -1}, None):
        with pytest.raises(ValueError):
            s.load_state_dict(bad)
