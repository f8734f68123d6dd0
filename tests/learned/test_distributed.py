"""DDP: two CPU processes (gloo) follow the single-process training trajectory; sharding, checkpoints, errors."""

from __future__ import annotations

import itertools

import pytest
import torch

from lsbench.learned.distributed import (
    DistContext,
    TrainJob,
    launch,
    load_checkpoint,
    shard_bounds,
    train_data_parallel,
)
from tests.learned.ddp_model import failing_rank, make_model, pixel_ce, toy_data

#: DDP sums gradients across ranks in another order than one process does: the trajectories agree
#: to float32 rounding (measured: SGD batch 7, relative loss difference <= 1.3e-7 after 6 steps; Adam batch 1, equal)
RTOL = 1e-5


def test_shard_bounds_cover_the_batch_exactly_once():
    for n in range(0, 12):
        for world in (1, 2, 3, 5):
            parts = [shard_bounds(n, r, world) for r in range(world)]
            assert parts[0][0] == 0 and parts[-1][1] == n
            assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
            sizes = [b - a for a, b in parts]
            assert max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError, match="rank 2 is not in a world of size 2"):
        shard_bounds(4, 2, 2)


def test_shard_weights_make_the_mean_loss_exact():
    """With loss = mean over the local part x weight, averaging over ranks gives the global mean."""
    values = torch.arange(7.0)
    total = 0.0
    for rank in range(2):
        (part,), weight = DistContext(rank=rank, world_size=2).shard(values)
        total += part.mean().item() * weight / 2
    assert total == pytest.approx(values.mean().item())
    (part, none), weight = DistContext().shard(values, None)
    assert weight == 1.0 and torch.equal(part, values) and none is None
    with pytest.raises(ValueError, match="differ in length"):
        DistContext(rank=0, world_size=2).shard(values, values[:3])


@pytest.mark.parametrize(("optimizer", "batch_size"), [("sgd", 7), ("adam", 1)])
def test_two_processes_match_one_process(tmp_path, optimizer, batch_size):
    """Same seed, same global batch: the loss of every step and the final weights agree to float rounding.

    batch_size 7 splits unevenly (4 + 3); batch_size 1 leaves rank 1 without samples every step."""
    x, y = toy_data(n=20, size=12)
    job = TrainJob(make_model, pixel_ce, (x, y), batch_size=batch_size, steps=6, lr=0.05, optimizer=optimizer,
                   momentum=0.9 if optimizer == "sgd" else 0.0, grad_clip=1.0, seed=3)
    one = train_data_parallel(job, nproc=1)
    two = train_data_parallel(job, nproc=2, checkpoint=tmp_path / "ddp.pt")
    assert one.world_size == 1 and two.world_size == 2
    assert len(one.losses) == len(two.losses) == 6
    assert one.losses[-1] < one.losses[0]  # it does train
    assert two.losses == pytest.approx(one.losses, rel=RTOL)
    for k, w in one.state_dict.items():
        torch.testing.assert_close(two.state_dict[k], w, rtol=RTOL, atol=1e-6)
    # rank 0 wrote the checkpoint (atomically: nothing else in the folder); it loads into a fresh model
    assert [p.name for p in tmp_path.iterdir()] == ["ddp.pt"]
    model = make_model()
    state = load_checkpoint(tmp_path / "ddp.pt", model)
    assert state["world_size"] == 2 and state["step"] == 6 and state["losses"] == two.losses
    torch.testing.assert_close(model.state_dict()["head.weight"], two.state_dict["head.weight"])


def test_a_failing_rank_is_reported_with_its_error():
    with pytest.raises(RuntimeError, match="rank 1 failed: ValueError: bad shard on purpose"):
        launch(failing_rank, 2, "bad shard on purpose")


def test_bad_launch_arguments():
    with pytest.raises(ValueError, match="--nproc must be a positive integer, got 0"):
        launch(failing_rank, 0, "x")
    with pytest.raises(ValueError, match="the nccl backend needs device='cuda'"):
        launch(failing_rank, 2, "x", backend="nccl")
    with pytest.raises(ValueError, match="batch_size 30 exceeds the 20 training samples"):
        TrainJob(make_model, pixel_ce, toy_data(n=20), batch_size=30)
    with pytest.raises(ValueError, match="optimizer must be 'sgd' or 'adam'"):
        TrainJob(make_model, pixel_ce, toy_data(n=20), optimizer="lbfgs")
