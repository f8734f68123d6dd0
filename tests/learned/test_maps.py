"""The dense maps' packed-GEMM inference path (lsbench.learned.maps.pack_dense_maps)."""

import pickle

import pytest
import torch
import torch.nn.functional as F

from lsbench.learned import maps
from lsbench.learned.maps import DenseMap, mkl_packed_gemm_available, pack_dense_maps
from lsbench.learned.models import build_model, model_config

needs_mkl = pytest.mark.skipif(not mkl_packed_gemm_available(), reason="this PyTorch has no MKL packed GEMM")


def _map(seed=0, side=16, out_maps=3):
    torch.manual_seed(seed)
    m = DenseMap(side, side, out_maps)
    with torch.no_grad():
        m.bias.uniform_(-1, 1)  # a non-zero bias: a packed call that dropped it would show
    return m


def _reference(m, v):
    """``A v + b`` in float64: the oracle both float32 paths are held to."""
    x = v.flatten(-2).double()
    out = x @ m.weight.detach().double().T + m.bias.detach().double()
    return out.view(v.shape[0], m.out_maps, m.height, m.width)


@needs_mkl
def test_packed_product_is_the_matrix_product_to_float32_rounding():
    m = _map()
    v = torch.rand(8, 16, 16)
    assert m.pack_for_batch(8) and m.packed_batch == 8
    with torch.inference_mode():
        out, lin = m(v), m.linear(v)
    assert m._packed is not None  # the packed GEMM ran
    torch.testing.assert_close(out.double(), _reference(m, v), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lin.double(), _reference(m, v) - m.bias.detach().double().view(1, 3, 16, 16),
                               rtol=1e-5, atol=1e-5)


@needs_mkl
def test_packed_weights_follow_a_change_of_the_weights():
    m = _map()
    v = torch.rand(8, 16, 16)
    m.pack_for_batch(8)
    with torch.no_grad():
        m(v)
        m.weight.copy_(torch.rand_like(m.weight))  # as an optimiser step or load_state_dict does
        out = m(v)
    torch.testing.assert_close(out.double(), _reference(m, v), rtol=1e-5, atol=1e-5)
    m.load_state_dict(_map(seed=1).state_dict())
    with torch.no_grad():
        out = m(v)
    torch.testing.assert_close(out.double(), _reference(m, v), rtol=1e-5, atol=1e-5)


@needs_mkl
def test_other_batch_sizes_and_training_use_the_plain_product():
    m = _map()
    m.pack_for_batch(8)
    v5, v8 = torch.rand(5, 16, 16), torch.rand(8, 16, 16, requires_grad=True)
    with torch.no_grad():
        out5 = m(v5)
    assert m._packed is None and torch.equal(out5, F.linear(v5.flatten(-2), m.weight, m.bias).view(5, 3, 16, 16))
    out8 = m(v8)  # gradients on: F.linear, differentiable
    assert torch.equal(out8, F.linear(v8.flatten(-2), m.weight, m.bias).view(8, 3, 16, 16))
    out8.sum().backward()
    assert m.weight.grad is not None and v8.grad is not None and m._packed is None


@needs_mkl
def test_a_pickled_copy_leaves_the_packed_weights_behind_and_packs_again():
    m = _map(side=32)
    m.pack_for_batch(4)
    v = torch.rand(4, 32, 32)
    with torch.no_grad():
        expected = m(v)
    assert m._packed is not None
    copy = pickle.loads(pickle.dumps(m))
    assert copy._packed is None and copy.packed_batch == 4
    with torch.no_grad():
        assert torch.equal(copy(v), expected)


@needs_mkl
def test_a_map_built_in_inference_mode_packs_too():
    with torch.inference_mode():  # its weights are inference tensors, which have no version counter
        m = _map()
        m.pack_for_batch(4)
        v = torch.rand(4, 16, 16)
        out = m(v)
    assert m._packed is not None
    torch.testing.assert_close(out.double(), _reference(m, v), rtol=1e-5, atol=1e-5)


def test_no_packing_without_mkl(monkeypatch):
    monkeypatch.setattr(maps, "mkl_packed_gemm_available", lambda: False)
    m = _map()
    assert m.pack_for_batch(8) is False and m.packed_batch is None
    v = torch.rand(8, 16, 16)
    with torch.no_grad():
        assert torch.equal(m(v), F.linear(v.flatten(-2), m.weight, m.bias).view(8, 3, 16, 16))


def test_pack_dense_maps_counts_the_dense_maps_of_a_model():
    dense = build_model(model_config("rls", 8))
    conv = build_model(model_config("rls", None, kind="conv"))
    expected = 5 if mkl_packed_gemm_available() else 0  # U_g/W_g, U, W_zr, W_h and the head V
    assert pack_dense_maps(dense, 64) == expected
    assert pack_dense_maps(conv, 64) == 0
    assert pack_dense_maps(dense, None) == 0
    assert all(m.packed_batch is None for m in dense.modules() if isinstance(m, DenseMap))
