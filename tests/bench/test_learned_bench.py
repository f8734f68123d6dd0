"""Inference throughput of the learned methods (pytest-benchmark; run by `make bench`).

The chapter reports 0.008 s per image for RLS at 64 x 64, i.e. 125 images/s; lsbench's
requirement is to reach that batched, on the CPU. Throughput does not depend on the weights'
values, so the models here are freshly initialised (no training needed). Timings are the
minimum over rounds (the least disturbed by other processes); pytest-benchmark prints the rest.
"""

import numpy as np
import pytest
import torch

from lsbench.learned.maps import pack_dense_maps
from lsbench.learned.models import build_model, model_config
from lsbench.learned.segmenter import LearnedSegmenter
from lsbench.types import Sample

pytestmark = pytest.mark.bench

BATCH = 64
CHAPTER_IMAGES_PER_SECOND = 1 / 0.008  # 125


def _segmenter(arch, size, **kwargs):
    config = model_config(arch, size, **kwargs)
    torch.manual_seed(0)
    return LearnedSegmenter(arch, build_model(config), config, {}, torch.device("cpu"))


def _samples(n=BATCH, size=128):
    rng = np.random.default_rng(0)
    return [Sample(f"s{i}", rng.random((size, size)).astype(np.float32),
                   init=np.pad(np.ones((size // 2, size // 2), bool), size // 4)) for i in range(n)]


def _images_per_second(benchmark):
    ips = BATCH / benchmark.stats.stats.min
    benchmark.extra_info["images_per_second_best"] = round(ips, 1)
    benchmark.extra_info["images_per_second_median"] = round(BATCH / benchmark.stats.stats.median, 1)
    return ips


def test_rls_model_throughput_64x64_batch_64(benchmark):
    """The dense RLS network alone (T = 5, tied weights, N = 4096) on a batch of 64 images, its
    matrices prepacked for MKL's GEMM at that batch size as the segmenter does on the CPU."""
    model = build_model(model_config("rls", 64)).eval()
    benchmark.extra_info["packed_dense_maps"] = pack_dense_maps(model, BATCH)
    x = torch.rand(BATCH, 64, 64)
    with torch.inference_mode():
        benchmark.pedantic(model, args=(x,), rounds=10, warmup_rounds=2)
    assert _images_per_second(benchmark) >= CHAPTER_IMAGES_PER_SECOND


def test_rls_segmenter_throughput_128px_images_batch_64(benchmark):
    """What `lsbench run` measures: grey conversion, resize to 64 x 64, RLS, mask back to 128 x 128."""
    seg = _segmenter("rls", 64)
    benchmark.extra_info["packed_dense_maps"] = seg.packed_dense_maps
    samples = _samples()
    benchmark.pedantic(seg.predict_batch, args=(samples,), rounds=10, warmup_rounds=2)
    assert _images_per_second(benchmark) >= CHAPTER_IMAGES_PER_SECOND


@pytest.mark.parametrize(("arch", "size", "kwargs"), [("fconnet", 64, {}),
                                                       ("rls", None, {"kind": "conv"}),
                                                       ("rls", None, {"kind": "conv", "init": "sample"})])
def test_other_learned_segmenters_throughput(benchmark, arch, size, kwargs):
    """F-ConNet at 64 x 64 and rls-conv at the native 128 x 128 (recorded, no threshold)."""
    seg = _segmenter(arch, size, **kwargs)
    benchmark.pedantic(seg.predict_batch, args=(_samples(),), rounds=5, warmup_rounds=1)
    assert _images_per_second(benchmark) > 0
