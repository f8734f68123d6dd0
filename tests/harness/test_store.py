"""The result store: checksummed append-only records, torn tails, duplicates, one writer."""

from __future__ import annotations

import math

import pytest

from lsbench.harness.store import ResultStore, StoreError, record_key


def _record(sample_id: str, f: float = 0.5) -> dict:
    return {"key": {"method": "cv", "params_hash": "abc", "dataset": "synthetic", "split": "test",
                    "sample_id": sample_id},
            "position": int(sample_id[1:]), "row": {"sample_id": sample_id, "f_measure": f, "n_iter": math.nan},
            "prediction": None}


def test_records_round_trip_in_order_with_nan(tmp_path):
    path = tmp_path / "records.jsonl"
    with ResultStore(path) as store:
        for i in range(3):
            store.append(_record(f"s{i}", i / 3))
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 3 and all(line.endswith(b"\n") and line[64:65] == b" " for line in lines)
    with ResultStore(path, writable=False) as again:
        assert [k[-1] for k in again.keys()] == ["s0", "s1", "s2"]
        rec = again.get(("cv", "abc", "synthetic", "test", "s1"))
        assert rec["row"]["f_measure"] == 1 / 3 and math.isnan(rec["row"]["n_iter"])


def test_a_duplicate_key_is_refused(tmp_path):
    with ResultStore(tmp_path / "r.jsonl") as store:
        store.append(_record("s0"))
        with pytest.raises(ValueError, match="refusing a duplicate"):
            store.append(_record("s0", 0.9))
        assert len(store) == 1
    assert len((tmp_path / "r.jsonl").read_bytes().splitlines()) == 1


@pytest.mark.parametrize("tail", [b"0123", b"deadbeef" * 8 + b' {"key":', None])
def test_a_torn_tail_is_discarded_and_cut_off(tmp_path, tail):
    path = tmp_path / "r.jsonl"
    with ResultStore(path) as store:
        store.append(_record("s0"))
        store.append(_record("s1"))
    good = path.read_bytes()
    if tail is None:  # a complete-looking last line whose checksum does not match (torn inside)
        last = good.splitlines(keepends=True)[-1]
        path.write_bytes(good[:-len(last)] + last[:70] + b"X" + last[71:])
        kept = 1
    else:  # a write cut short by SIGKILL: no newline
        path.write_bytes(good + tail)
        kept = 2
    with ResultStore(path, writable=False) as ro:
        assert len(ro) == kept and ro.discarded_tail > 0
    assert path.read_bytes() != good or tail is None  # read-only: file untouched
    with ResultStore(path) as store:  # writable: the tail is cut, appends continue on a clean line
        assert len(store) == kept
        store.append(_record("s2"))
    with ResultStore(path, writable=False) as ro:
        assert [k[-1] for k in ro.keys()] == [*["s0", "s1"][:kept], "s2"] and ro.discarded_tail == 0


def test_damage_before_the_last_line_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "r.jsonl"
    with ResultStore(path) as store:
        for i in range(3):
            store.append(_record(f"s{i}"))
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"0.5", b"0.6")
    path.write_bytes(b"".join(lines))
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"line 2 is damaged"):
        ResultStore(path)
    assert path.read_bytes() == before


def test_only_one_writer(tmp_path):
    path = tmp_path / "r.jsonl"
    with ResultStore(path) as store:
        store.append(_record("s0"))
        with pytest.raises(StoreError, match="another lsbench process"):
            ResultStore(path)
        with ResultStore(path, writable=False) as reader:  # readers are welcome
            assert len(reader) == 1
    with ResultStore(path) as store:  # the lock went with the first writer
        assert len(store) == 1


def test_in_memory_store_and_bad_records():
    store = ResultStore(None)
    store.append(_record("s0"))
    assert ("cv", "abc", "synthetic", "test", "s0") in store
    with pytest.raises(ValueError, match="key fields"):
        store.append({"row": {}})
    with pytest.raises(ValueError, match="key fields"):
        record_key({"key": {"method": "cv"}})
