"""lsbench.device: the one device rule, shared by the batched classic methods, the learned methods and CRLS."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from lsbench.device import resolve_device  # noqa: E402


def test_the_rule(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    for asked in ("cuda", "cuda:0"):
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device(asked)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match=r"'cuda:2' was asked for but this machine has 2 CUDA device\(s\)"):
        resolve_device("cuda:2")
    for bad in ("tpu", "cuda:x", "cuda:", "CPU", ""):
        with pytest.raises(ValueError, match="device must be one of 'auto', 'cpu', 'cuda' or 'cuda:N'"):
            resolve_device(bad)
    with pytest.raises(TypeError, match="device must be a string, got int"):
        resolve_device(0)


def test_every_torch_user_resolves_devices_with_the_same_function():
    import lsbench.crls.segmenter
    import lsbench.learned.segmenter
    import lsbench.torchclassic.chan_vese
    import lsbench.torchclassic.drlse
    import lsbench.torchclassic.l2s
    import lsbench.torchclassic.rsf

    for module in (lsbench.crls.segmenter, lsbench.learned.segmenter, lsbench.torchclassic.chan_vese,
                   lsbench.torchclassic.drlse, lsbench.torchclassic.l2s, lsbench.torchclassic.rsf):
        assert module.resolve_device is resolve_device, module.__name__


def test_importing_the_rule_does_not_import_torch():
    code = "import sys, lsbench.device; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu():
    assert resolve_device("auto") == resolve_device("cuda") == torch.device("cuda")
    n = torch.cuda.device_count()
    assert resolve_device(f"cuda:{n - 1}") == torch.device("cuda", n - 1)
    with pytest.raises(ValueError, match="CUDA device"):
        resolve_device(f"cuda:{n}")
