"""Training-to-accuracy checks of the learned methods on the synthetic set (slow: ~10 min on 2 cores).

Trains the default ``rls``, ``rls-conv`` and ``fconnet`` from scratch on ``synthetic/train``
(into a temporary cache) and runs them beside Chan–Vese on the 360 test images.

What is asserted is what was measured to hold (reports/results.md, "Learned single-object
methods on the synthetic set"): the conv RLS beats
Chan–Vese, the dense RLS beats its non-recurrent control F-ConNet (the recurrence and the
level-set input carry the gain), and training the default dense RLS takes under 15 minutes.
The chapter's stronger claim, dense RLS above every classic method, does not hold on this
scene-disjoint split (reports/reference/claims.md) and is therefore not asserted.
"""

import pytest

from lsbench.datasets import load
from lsbench.harness.runner import MethodRequest, run_benchmark
from lsbench.registry import METHODS

pytestmark = pytest.mark.slow

LEARNED = ("rls", "rls-conv", "fconnet")


@pytest.fixture(scope="module")
def results(data_root):
    trained = {n: METHODS.build(n, train_root=str(data_root), train_missing=True) for n in LEARNED}  # trains, caches
    test = load("synthetic", root=data_root, split="test")
    requests = [MethodRequest("cv"), *(MethodRequest(n, {"train_root": str(data_root)}) for n in LEARNED)]
    run = run_benchmark(requests, test, progress=False, throughput=True)  # opt-in since the harness stopped measuring it by default
    means = run.per_sample.groupby("method")["f_measure"].mean().to_dict()
    return means, {n: s.checkpoint_info for n, s in trained.items()}, run


def test_every_method_scored_every_test_image(results):
    _, _, run = results
    assert (run.per_sample.groupby("method").size() == 360).all()
    assert (run.per_sample["error"] == "").all()


def test_rls_conv_beats_chan_vese(results):
    means, _, _ = results
    assert means["rls-conv"] > means["cv"]


def test_dense_rls_beats_fconnet(results):
    means, _, _ = results
    assert means["rls"] > means["fconnet"]


def test_default_rls_trains_from_scratch_within_15_minutes(results):
    _, info, _ = results
    assert info["rls"]["train_seconds"] < 15 * 60
    assert info["rls"]["train_config"]["epochs"] == METHODS.get("rls").defaults()["epochs"]
    assert info["rls"]["val_metrics"]["f_measure"] > 0.7


def test_batched_throughput_is_recorded(results):
    _, _, run = results
    assert run.config["throughput"]["rls"]["images_per_second"] > 0
