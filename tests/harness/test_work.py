"""Work units: parameter hashes, mask payloads, and what a worker records when its data differs."""

from __future__ import annotations

import numpy as np

from lsbench.datasets import load
from lsbench.harness.work import (
    DatasetRef,
    MethodSpec,
    WorkerCache,
    WorkUnit,
    decode_mask,
    encode_mask,
    execute_unit,
    params_hash,
)


def test_params_hash_is_canonical_and_sees_array_contents():
    assert params_hash({"mu": 0.25, "init": "disk"}) == params_hash({"init": "disk", "mu": 0.25})
    assert params_hash({"mu": 0.25}) != params_hash({"mu": 0.26})
    a = np.zeros((5, 5), bool)
    b = a.copy()
    b[2, 2] = True
    assert params_hash({"init": a}) == params_hash({"init": a.copy()})
    assert params_hash({"init": a}) != params_hash({"init": b})  # same dtype and shape, other content


def test_mask_payload_round_trips(rng):
    mask = rng.random((7, 13)) > 0.5
    shape, bits = decode_mask(encode_mask(mask))
    assert shape == (7, 13)
    np.testing.assert_array_equal(np.unpackbits(bits, count=7 * 13).reshape(shape).astype(bool), mask)


def test_a_worker_with_other_data_records_a_failure_not_a_wrong_result(data_root):
    ds = load("synthetic", root=data_root, split="test")
    spec = MethodSpec("cv", {"max_iter": 5}, params_hash({"max_iter": 5}))
    unit = WorkUnit(method=spec, dataset=DatasetRef(ds.spec()), index=3, position=0, sample_id=ds.ids()[0],
                    dataset_name="synthetic", split="test", kind="binary", metric="binary")
    record = execute_unit(unit, WorkerCache())
    assert record["prediction"] is None
    assert record["row"]["error"].startswith(f"LookupError: this worker's dataset has sample {ds.ids()[3]!r} at "
                                             f"index 3, the run expects {ds.ids()[0]!r}")
    good = execute_unit(WorkUnit(method=spec, dataset=DatasetRef(ds.spec()), index=0, position=0,
                                 sample_id=ds.ids()[0], dataset_name="synthetic", split="test", kind="binary",
                                 metric="binary"), WorkerCache())
    assert good["row"]["error"] == "" and good["row"]["n_iter"] == 5 and good["prediction"]["shape"] == [128, 128]
    assert good["key"] == {"method": "cv", "params_hash": spec.params_hash, "dataset": "synthetic", "split": "test",
                           "sample_id": ds.ids()[0]}
