"""Training to accuracy on shapes (slow: 20-30 CPU-minutes per method; `pytest -m slow`).

Asserts what was measured, not a hope (issue 14). Both detectors are trained from scratch with the
registered defaults on the shapes training split (one thread each) and scored by the harness on
the 500 test images, MNC's mAPr (reports/results.md, 'CRLS and Mask R-CNN on shapes'):

* ``crls``: mAPr@0.5 81.6, mAPr@0.7 62.4 (2026-12-02, trained at 668ab81, scored at 78a80cd;
  CRLS training is deterministic since tests/crls/test_determinism.py);
* ``maskrcnn``: 84.4 and 74.9 (870ca46, reproduced exactly by a second training).

So CRLS does *not* match Mask R-CNN under the same budget: about 3 points behind at IoU 0.5 and
12 behind at 0.7. ``TOLERANCE`` allows for another CPU's or library's floating-point order.
"""

import pytest

from lsbench.datasets import load
from lsbench.harness.runner import MethodRequest, run_benchmark

pytestmark = pytest.mark.slow

#: MNC mAPr on shapes/test, as measured (fractions)
MEASURED = {"crls": {0.5: 0.816, 0.7: 0.624}, "maskrcnn": {0.5: 0.844, 0.7: 0.749}}
#: absolute tolerance on each mAPr
TOLERANCE = 0.03


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    test = load("shapes", root=root, split="test")
    reqs = [MethodRequest(m, {"device": "cpu", "train_root": str(root), "train_missing": True}) for m in MEASURED]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LSBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        res = run_benchmark(reqs, test, progress=False)
    return {m: s.mapr["mnc"].mean_ap for m, s in res.instance_scores.items()}


@pytest.mark.parametrize("method", sorted(MEASURED))
@pytest.mark.parametrize("iou", [0.5, 0.7])
def test_reproduces_the_measured_mapr(scores, method, iou):
    assert scores[method][iou] == pytest.approx(MEASURED[method][iou], abs=TOLERANCE)


def test_mask_rcnn_leads_crls_at_iou_07(scores):
    """The measured gap (12.5 points) is far outside the tolerance: the ordering is a finding."""
    assert scores["maskrcnn"][0.7] - scores["crls"][0.7] > 2 * TOLERANCE
