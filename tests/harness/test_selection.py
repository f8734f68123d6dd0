"""`--limit N`: N samples spread over the scene families (seeded), or the first N (`--limit-first`)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from click.testing import CliRunner

from lsbench.cli import main
from lsbench.datasets import load
from lsbench.harness.runner import MethodRequest, run_benchmark
from lsbench.harness.selection import describe_selection, select_positions


def test_round_robin_over_families_is_seeded_and_deterministic():
    groups = ["a"] * 10 + ["b"] * 3 + ["c"] * 7
    picked = select_positions(groups, 7)
    assert picked == sorted(picked) and len(set(picked)) == 7
    assert Counter(groups[i] for i in picked) == {"a": 3, "b": 2, "c": 2}  # a, b, c, a, b, c, a
    assert select_positions(groups, 7) == picked  # deterministic
    assert any(select_positions(groups, 7, seed=s) != picked for s in range(1, 5))  # the seed picks within families
    assert Counter(groups[i] for i in select_positions(groups, 12)) == {"a": 5, "b": 3, "c": 4}  # b runs out
    assert select_positions(groups, 99) == list(range(20))
    assert select_positions(groups, 4, mode="first") == [0, 1, 2, 3]
    assert select_positions([""] * 5, 3) == [0, 1, 2]  # no families: the split's order
    with pytest.raises(ValueError, match="limit mode"):
        select_positions(groups, 3, mode="random")
    with pytest.raises(ValueError, match="limit"):
        select_positions(groups, 0)


def test_description_says_what_was_chosen():
    groups = ["a"] * 4 + ["b"] * 4
    info = describe_selection(groups, select_positions(groups, 4), 4, "spread", 0)
    assert info["families"] == {"a": 2, "b": 2} and info["n_available"] == 8 and info["seed"] == 0
    assert "spread over 2 of the 2 scene families (a 2, b 2; seed 0)" in info["text"]
    assert "--limit-first 4" in info["text"]
    plain = describe_selection([""] * 8, [0, 1], 2, "spread", 0)
    assert plain["mode"] == "first (no families)" and "no scene families" in plain["text"]


def test_limit_12_covers_all_six_families_and_limit_first_keeps_the_order(data_root, tmp_path):
    test = load("synthetic", root=data_root, split="test")
    assert len(set(test.groups())) == 6
    runner = CliRunner()
    base = ["run", "--methods", "cv", "-p", "cv.max_iter=3", "--root", str(data_root), "--executor", "local",
            "--out", str(tmp_path), "--no-figures"]
    res = runner.invoke(main, [*base, "--limit", "12", "--run-id", "spread"])
    assert res.exit_code == 0, res.output
    assert "limit 12: 12 of 360 samples spread over 6 of the 6 scene families" in res.stderr
    per = json.loads((tmp_path / "spread" / "config.json").read_text())
    import pandas as pd

    rows = pd.read_csv(tmp_path / "spread" / "per_sample.csv")
    assert rows["group"].value_counts().to_dict() == dict.fromkeys(sorted(set(test.groups())), 2)
    assert per["selection"]["families"] == dict.fromkeys(sorted(set(test.groups())), 2)
    assert per["plan"]["sample_ids"] == rows["sample_id"].tolist() and per["plan"]["limit_mode"] == "spread"
    for sid, group in zip(rows["sample_id"], rows["group"], strict=True):  # groups() agrees with the samples
        assert test[test.ids().index(sid)].meta["family"] == group
    first = runner.invoke(main, [*base, "--limit-first", "12", "--run-id", "first"])
    assert first.exit_code == 0, first.output
    rows = pd.read_csv(tmp_path / "first" / "per_sample.csv")
    assert rows["sample_id"].tolist() == test.ids()[:12] and rows["group"].nunique() == 1  # all one family
    both = runner.invoke(main, [*base, "--limit", "3", "--limit-first", "3"])
    assert both.exit_code != 0 and "not both" in both.output


def test_python_limit_spreads_too_unless_told_first(data_root):
    test = load("synthetic", root=data_root, split="test")
    spread = run_benchmark([MethodRequest("cv", {"max_iter": 2})], test, limit=6, progress=False, trace_samples=0)
    assert spread.per_sample["group"].nunique() == 6 and spread.config["selection"]["mode"] == "spread"
    first = run_benchmark([MethodRequest("cv", {"max_iter": 2})], test, limit=6, limit_mode="first", progress=False,
                          trace_samples=0)
    assert first.per_sample["sample_id"].tolist() == test.ids()[:6]
