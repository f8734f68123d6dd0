"""The classic level-set methods in PyTorch, batched: B same-size images in one evolution.

Each function mirrors its NumPy reference in :mod:`lsbench.classic` (same parameters, same
defaults, same discretisation) and adds ``device`` (``"auto"``, ``"cpu"``, ``"cuda"``),
``dtype`` (``"float32"`` by default; ``"float64"`` for RSF and LIC, whose float32 evolutions
drift from the NumPy references) and ``compile`` (``torch.compile`` the
per-iteration update). Every image stops on its own (its stopping rule, then it leaves the
batch). The registered methods ``cv-torch``, ``drlse-torch``, ``li-torch``, ``lic-torch`` and
``l2s-torch`` (:mod:`lsbench.methods`) are built on them, on one CPU thread by default
(:class:`lsbench.torchclassic._batch.TorchThreads`). Importing this package imports torch; if
torch is not imported yet, it first sets how OpenMP's waiting threads wait
(:func:`lsbench.cpu.configure_openmp`: a short spin, then sleep, unless set): on a busy machine a
spinning thread holds the core the thread it waits for needs (a two-thread batch ran 30x slower
than one thread under load with OpenMP's default policy, 2x with the passive one; measured on 2
cores at a load of 15).
"""

import sys

from lsbench.cpu import configure_openmp

if "torch" not in sys.modules:  # OpenMP reads the policy once, when torch loads it
    configure_openmp()

from lsbench.torchclassic.chan_vese import chan_vese_batch
from lsbench.torchclassic.drlse import drlse_batch
from lsbench.torchclassic.l2s import l2s_batch
from lsbench.torchclassic.rsf import lic_batch, rsf_batch

__all__ = ["chan_vese_batch", "drlse_batch", "l2s_batch", "lic_batch", "rsf_batch"]
