"""crls and maskrcnn as registered instance methods: train-or-load, checkpoints, the harness, the CLI."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from lsbench.cli import main
from lsbench.datasets import load
from lsbench.harness.runner import MethodRequest, run_benchmark
from lsbench.learned.weights import CheckpointError, cache_dir
from lsbench.registry import METHODS
from lsbench.types import Sample

SHAPES = {"size": 64, "train_images": 8, "val_images": 3, "test_images": 3}
COMMON = {"epochs": 1, "batch_size": 4, "warmup_iters": 1, "representation_size": 16, "rpn_post_nms_test": 30,
          "box_batch_size": 16, "anchor_sizes": [8, 16, 32], "detections_per_img": 10, "device": "cpu",
          "train_dataset": "shapes",
          "train_dataset_params": SHAPES, "inference_batch": 4, "train_missing": True}
TINY = {"crls": {**COMMON, "mask_size": 9, "rls_steps": 1, "mask_channels": 4},
        "maskrcnn": {**COMMON, "mask_layers": [8], "mask_dim": 8}}
RUN_P = {"crls": ["crls.mask_size=9", "crls.rls_steps=1", "crls.mask_channels=4"],
         "maskrcnn": ["maskrcnn.mask_layers=[8]", "maskrcnn.mask_dim=8"]}


def _p(method):
    keys = ("representation_size=16", "rpn_post_nms_test=30", "box_batch_size=16", "anchor_sizes=[8,16,32]",
            "detections_per_img=10", "device=cpu", "inference_batch=4")
    return [a for k in (*keys, *[r.split(".", 1)[1] for r in RUN_P[method]]) for a in ("-p", f"{method}.{k}")]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes-root")
    load("shapes", root=root, split="train", **SHAPES)
    return root


@pytest.fixture(scope="module")
def trained(root, tmp_path_factory):
    """One tiny checkpoint of each method, trained through the registered factory (cached).

    Module-scoped, so it sets the session's cache folder itself (conftest's autouse fixture,
    function-scoped, has not run yet).
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LSBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        yield {m: METHODS.build(m, **TINY[m], train_root=str(root)) for m in ("crls", "maskrcnn")}


def test_registered_as_instance_methods():
    for name in ("crls", "maskrcnn"):
        entry = METHODS.get(name)
        assert entry.kind == "instance" and "learned" in entry.tags
        d = entry.defaults()
        assert d["backbone"] == "small" and d["weights"] is None and d["train_dataset"] == "shapes"
    d = METHODS.get("crls").defaults()
    assert (d["roi_op"], d["mask_size"], d["rls_steps"], d["rls_init"]) == ("warp", 21, 5, "disks")


def test_trains_once_then_uses_the_cache(trained, root, capsys):
    seg = trained["crls"]
    info = seg.checkpoint_info
    assert info["path"] in map(str, cache_dir().glob("crls-*.pt"))
    assert info["model_config"]["num_classes"] == 6 and info["data"]["val_split"] == "val"
    assert info["data"]["fingerprint"] == load("shapes", root=root, split="train", **SHAPES).fingerprint()
    assert "mAPr@0.5" in info["val_metrics"] and len(info["history"]) == 1
    capsys.readouterr()
    again = METHODS.build("crls", **TINY["crls"], train_root=str(root))
    assert "training" not in capsys.readouterr().err
    sample = load("shapes", root=root, split="test", **SHAPES)[0]
    a, b = seg(sample), again(sample)
    np.testing.assert_array_equal(a.instances.masks, b.instances.masks)
    assert a.instances.masks.shape[1:] == sample.shape and a.instances.masks.dtype == bool
    assert len(seg.predict_batch([sample, sample])) == 2


def test_checkpoints_of_another_backbone_class_count_or_method_are_refused(trained, root, tmp_path):
    path = trained["crls"].checkpoint_info["path"]
    with pytest.raises(CheckpointError, match="backbone: checkpoint 'small', requested 'resnet18'"):
        METHODS.build("crls", **{**TINY["crls"], "backbone": "resnet18"}, train_root=str(root), weights=path)
    with pytest.raises(CheckpointError, match="holds a 'crls' model, not 'maskrcnn'"):
        METHODS.build("maskrcnn", **TINY["maskrcnn"], train_root=str(root), weights=path)
    # a 2-class dataset asks for another head: the 6-class checkpoint does not fit it
    from lsbench.learned.weights import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(path)
    cfg = {**ckpt["model_config"], "num_classes": 2, "class_names": ["a", "b"]}
    other = save_checkpoint(tmp_path / "two.pt", method="crls", model_config=cfg, train_config=ckpt["train_config"],
                            state_dict=ckpt["state_dict"], data=ckpt["data"], val_metrics={})
    with pytest.raises(CheckpointError, match="num_classes: checkpoint 2, requested 6"):
        METHODS.build("crls", **TINY["crls"], train_root=str(root), weights=str(other))


def test_greyscale_and_rgba_samples(trained):
    seg = trained["maskrcnn"]
    grey = Sample("g", np.random.default_rng(0).random((64, 64)).astype(np.float32))
    assert seg(grey).instances.masks.shape[1:] == (64, 64)
    with pytest.raises(ValueError, match="drop the alpha channel"):
        from lsbench.crls.data import image_tensor

        image_tensor(np.zeros((64, 64, 4), np.float32))


def test_harness_fills_tables_3_and_4(trained, root, tmp_path):
    data = load("shapes", root=root, split="test", **SHAPES)
    reqs = [MethodRequest(m, {**TINY[m], "train_root": str(root)}) for m in ("crls", "maskrcnn")]
    res = run_benchmark(reqs, data, out=tmp_path, run_id="inst", progress=False, throughput=True)
    d = res.run_dir
    assert (res.per_sample["error"].fillna("") == "").all(), res.per_sample["error"].tolist()
    table3, table4 = (d / "table3.md").read_text(), (d / "table4.md").read_text()
    assert "`crls`" in table3 and "`maskrcnn`" in table3 and "`crls`" in table4
    for m in ("crls", "maskrcnn"):
        assert 0.0 <= res.instance_scores[m].mapr["mnc"].mean_ap[0.5] <= 1.0
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["throughput"]["crls"]["images_per_second"] > 0
    # each detector describes its size; Table 3 shows it (the tiny models: exact counts from the models)
    from lsbench.crls.model import count_parameters, mask_stage_parameters

    for m in ("crls", "maskrcnn"):
        model = trained[m].model
        assert cfg["models"][m] == {"params": count_parameters(model), "mask_params": mask_stage_parameters(model)}
        row = next(line for line in table3.splitlines() if line.startswith(f"| `{m}`"))
        assert f"| {count_parameters(model) / 1e6:.2f} | {mask_stage_parameters(model) / 1e6:.2f} |" in row
    assert "Params (M)" in table3 and "Mask stage (M)" in table3


def test_cli_train_then_run_with_weights(root, tmp_path):
    runner = CliRunner()
    out = tmp_path / "crls.pt"
    ds = [a for k, v in SHAPES.items() for a in ("--dataset-param", f"{k}={v}")]
    tiny = ["-p", "mask_size=9", "-p", "rls_steps=1", "-p", "mask_channels=4", "-p", "representation_size=16",
            "-p", "rpn_post_nms_test=30", "-p", "box_batch_size=16", "-p", "anchor_sizes=[8,16,32]",
            "-p", "detections_per_img=10", "-p", "batch_size=4", "-p", "warmup_iters=1"]
    res = runner.invoke(main, ["train", "crls", "--dataset", "shapes", "--root", str(root), *ds, "--epochs", "1",
                               "--device", "cpu", "--out", str(out), "--no-progress", *tiny])
    assert res.exit_code == 0, res.output
    assert f"checkpoint: {out}" in res.stdout and "validation mAPr@0.5" in res.stdout
    assert "s CPU" in res.stdout and f"--weights crls={out}" in res.stdout
    assert not out.with_name(out.name + ".state").exists()
    run = runner.invoke(main, ["run", "--methods", "crls", "--dataset", "shapes", "--root", str(root), *ds,
                               "--weights", f"crls={out}", *_p("crls"), "--out", str(tmp_path),
                               "--run-id", "r", "--no-progress", "--no-figures"])
    assert run.exit_code == 0, run.output
    assert "Table 3" in run.stdout and "training" not in run.stderr


@pytest.mark.parametrize(("args", "needle"), [
    (["train", "rls", "--backbone", "small"], "--backbone applies to crls and maskrcnn only"),
    (["train", "fconnet", "--resume"], "--resume applies to crls and maskrcnn only"),
    (["train", "crls", "--backbone-weights", "nope.pth"], "nope.pth does not exist"),
    (["train", "crls", "--dataset", "synthetic"], "is a binary dataset; CRLS and Mask R-CNN train on instance"),
    (["train", "crls", "-p", "backbone_weights=x"], "no trainable parameter 'backbone_weights'"),
    (["train", "maskrcnn", "--dataset-param", "colour=1"], "dataset 'shapes' has no option 'colour'"),
    (["train", "crls", "--nproc", "2"], "data-parallel training is for rls, rls-conv and fconnet, not 'crls'"),
])
def test_cli_errors(args, needle):
    res = CliRunner().invoke(main, args)
    assert res.exit_code != 0 and needle in res.output, res.output


def test_cli_unknown_backbone(root):
    res = CliRunner().invoke(main, ["train", "crls", "--root", str(root), "--backbone", "resnet7",
                                    *[a for k, v in SHAPES.items() for a in ("--dataset-param", f"{k}={v}")]])
    assert res.exit_code == 2 and "unknown backbone 'resnet7'" in res.output  # a bad option value (issue 15)
