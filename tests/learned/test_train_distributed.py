"""`lsbench train --nproc N`: DDP training of the learned methods follows single-process training."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from lsbench.cli import main
from lsbench.learned.models import build_model, model_config
from lsbench.learned.train import TrainConfig, train_distributed
from lsbench.learned.weights import load_checkpoint

#: DDP sums the gradients of the ranks in another order than one process does (issue 9's tolerance)
RTOL = 1e-5
#: rls-conv on the synthetic train split resized to 16 x 16: 288 training images, global batch 40
#: (8 batches: 7 of 20 + 20 per rank, the last of 8 = 4 + 4), flips/rotations, shifts and inversions on
SMALL = ["-p", "size=16", "-p", "kernel_size=3", "-p", "steps=2", "-p", "batch_size=40", "-p", "shift=2",
         "-p", "invert=true", "--epochs", "1", "--seed", "3", "--no-progress"]


def test_cli_train_on_two_processes_matches_one_process(data_root, tmp_path):
    runner = CliRunner()
    base = ["train", "rls-conv", "--root", str(data_root), *SMALL]
    one = runner.invoke(main, [*base, "--out", str(tmp_path / "one.pt")])
    two = runner.invoke(main, [*base, "--nproc", "2", "--out", str(tmp_path / "two.pt")])
    assert one.exit_code == 0 and two.exit_code == 0, one.output + two.output
    assert "on 2 processes (cpu)" in two.stderr and f"checkpoint: {tmp_path / 'two.pt'}" in two.stdout
    a = load_checkpoint(tmp_path / "one.pt", method="rls-conv")
    b = load_checkpoint(tmp_path / "two.pt", method="rls-conv")
    assert b["data"]["nproc"] == 2 and b["data"]["fingerprint"] == a["data"]["fingerprint"]
    assert b["data"]["n_train"] == 288 and b["data"]["val_groups"] == a["data"]["val_groups"]
    for key in ("loss", "val_loss", "val_f_measure"):
        assert [h[key] for h in b["history"]] == pytest.approx([h[key] for h in a["history"]], rel=RTOL), key
    for k, w in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][k], w, rtol=RTOL, atol=1e-6)
    torch.manual_seed(3)  # train_model's initial weights: build_model under manual_seed(seed)
    initial = build_model(a["model_config"]).state_dict()
    assert all(not torch.equal(initial[k], w) for k, w in a["state_dict"].items())  # every weight trained
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.pt", "two.pt"]


@pytest.mark.parametrize("nproc", [0, -2])
def test_bad_nproc_is_refused(nproc, tmp_path):
    res = CliRunner().invoke(main, ["train", "fconnet", "--nproc", str(nproc)])
    assert res.exit_code != 0 and "--nproc" in res.output and "positive integer" in res.output
    with pytest.raises(ValueError, match="--nproc must be a positive integer"):
        train_distributed("fconnet", model_config("fconnet", 8), TrainConfig(), [], tmp_path / "x.pt", nproc=nproc)
