"""Training the same config with the same seed twice gives the same weights and validation history.

Issue 14 saw CRLS's shapes validation history move between two trainings with the documented
command (.304 .574 ... against .287 .533 ...); the cause was a code change between them (the RoI
warp's roi_align fast path changes the float rounding), not randomness in one program. These
tests pin the program's side: two trainings in one process and a third in a fresh Python
process (new allocator, new caches, new import order) must agree bit for bit, for every
detector arch and for the end-to-end box gradient, at the same intra-op thread count.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lsbench.crls.model import detector_config
from lsbench.crls.train import DetectorTrainConfig, train_detector
from tests.instance_fixtures import TinyShapes

REPO = Path(__file__).resolve().parents[2]
FAST = dict(representation_size=16, rpn_post_nms_train=20, rpn_post_nms_test=20, box_batch_size=8,
            anchor_sizes=[8, 16], detections_per_img=10)
SIZE = (32, 40)
#: one tiny model per arch; crls-e2e is crls with the proposals' gradient kept
VARIANTS = {
    "crls": ("crls", dict(mask_channels=4, rls_steps=2, mask_size=9)),
    "crls-e2e": ("crls", dict(mask_channels=4, rls_steps=2, mask_size=9, detach_proposals=False)),
    "crls-fcmask": ("crls-fcmask", dict(mask_channels=4, mask_size=9, mask_hidden=16)),
    "maskrcnn": ("maskrcnn", dict(mask_layers=[8], mask_dim=8)),
}


def fingerprint(name: str, seed: int = 3) -> dict:
    """Train variant ``name`` (2 epochs of 2 batches of 2 images, validation on 2) and summarise the result."""
    arch, extra = VARIANTS[name]
    cfg = detector_config(arch, 2, ["disk", "square"], image_shape=SIZE, **{**FAST, **extra})
    res = train_detector(cfg, DetectorTrainConfig(epochs=2, batch_size=2, warmup_iters=2, seed=seed),
                         TinyShapes(n=4, size=SIZE, seed=1), TinyShapes(n=2, size=SIZE, seed=2, split="val"),
                         method=name, progress=False)
    h = hashlib.sha256()
    for key, value in sorted(res.model.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    history = [{k: v for k, v in row.items() if k != "seconds"} for row in res.history]
    return {"weights": h.hexdigest(), "history": history, "val": res.val_metrics}


_CHILD = """
import json, sys
from tests.crls.test_determinism import VARIANTS, fingerprint
print(json.dumps({name: fingerprint(name) for name in VARIANTS}))
"""


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread here and in the child (the documented training setting; also the fastest
    on a loaded 2-core machine, where a second OpenMP thread mostly spins)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def in_process(one_thread) -> dict[str, dict]:
    return {name: fingerprint(name) for name in VARIANTS}


def test_twice_in_one_process(in_process):
    again = fingerprint("crls")
    assert again == in_process["crls"]
    assert [r["epoch"] for r in again["history"]] == [1, 2]
    assert all(r["threads"] == torch.get_num_threads() for r in again["history"])


def test_a_fresh_process_trains_the_same_weights_and_history(in_process):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": str(torch.get_num_threads()), "MKL_NUM_THREADS": str(torch.get_num_threads())}
    out = subprocess.run([sys.executable, "-c", _CHILD], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    child = json.loads(out.stdout.strip().splitlines()[-1])
    for name in VARIANTS:
        assert child[name]["weights"] == in_process[name]["weights"], name
        assert child[name]["history"] == in_process[name]["history"], name
        assert child[name]["val"] == in_process[name]["val"], name


def test_the_checks_can_fail(in_process):
    """A training that ignored its config or its seed would pass the checks above: these must differ."""
    assert len({fp["weights"] for fp in in_process.values()}) == len(VARIANTS)
    other = fingerprint("crls", seed=4)
    assert other["weights"] != in_process["crls"]["weights"]
    assert other["history"] != in_process["crls"]["history"]
