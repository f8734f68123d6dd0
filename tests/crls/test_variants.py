"""The CRLS variants of the fair comparison: crls-fcmask (ablation), crls-lite (parameter-matched), crls-e2e."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from lsbench.crls.heads import FCMaskHead, RLSMaskHead
from lsbench.crls.model import (
    build_detector,
    count_parameters,
    detector_config,
    mask_stage_parameters,
)
from lsbench.crls.segmenter import DETECTOR_METHODS, configs_from_params
from lsbench.registry import METHODS
from tests.crls.conftest import scene, tiny_model

VARIANTS = ("crls-fcmask", "crls-lite", "crls-e2e")
RLS_KEYS = {"rls_steps", "rls_init", "rls_tie_weights", "rls_gru"}


class _Shapes:
    """What configs_from_params reads of a training set: shapes' six classes and 128 x 128 images."""

    class_names = ("disk", "square", "triangle", "star", "ring", "ellipse")

    def __getitem__(self, i):
        return SimpleNamespace(shape=(128, 128))


def _default_model(method):
    config, _ = configs_from_params(method, METHODS.get(method).defaults(), _Shapes())
    return config, build_detector(config)


def test_registered_with_crls_parameters_except_the_named_ones():
    crls = METHODS.get("crls").defaults()
    for name in VARIANTS:
        entry = METHODS.get(name)
        assert entry.kind == "instance" and {"learned", "instance"} <= set(entry.tags) and name in DETECTOR_METHODS
    fc = METHODS.get("crls-fcmask").defaults()
    assert set(fc) == (set(crls) - RLS_KEYS) | {"mask_hidden"} and fc["mask_hidden"] == 256
    assert {k: v for k, v in fc.items() if k != "mask_hidden"} == {k: v for k, v in crls.items() if k not in RLS_KEYS}
    lite = METHODS.get("crls-lite").defaults()
    assert {k for k in crls if lite[k] != crls[k]} == {"mask_size", "mask_channels"}
    e2e = METHODS.get("crls-e2e").defaults()
    assert {k for k in crls if e2e[k] != crls[k]} == {"detach_proposals"} and e2e["detach_proposals"] is False


def test_unknown_parameters_are_refused_by_name():
    with pytest.raises(ValueError, match="'crls-fcmask' has no parameter.*'rls_steps'"):
        METHODS.build("crls-fcmask", rls_steps=3)
    with pytest.raises(TypeError, match="crls has no parameter"):
        from lsbench.methods import _crls_variant

        _crls_variant("crls-nope", "x", mask_sise=3)


def test_fc_mask_head_is_mncs_two_fc_layers():
    head = FCMaskHead(8, roi_size=4, mask_size=5, mask_channels=3, hidden=16)
    assert [type(m).__name__ for m in head.children()] == ["Sequential", "Linear", "Linear"]
    assert (head.fc_maskest.in_features, head.fc_maskest.out_features) == (3 * 4 * 4, 16)
    assert (head.mask_pred.in_features, head.mask_pred.out_features) == (16, 25)
    x = torch.randn(2, 8, 4, 4)
    expected = head.mask_pred(torch.relu(head.fc_maskest(head.reduce(x).flatten(1)))).view(2, 1, 5, 5)
    torch.testing.assert_close(head(x), expected)
    assert head(torch.zeros(0, 8, 4, 4)).shape == (0, 1, 5, 5)
    assert sum(p.numel() for p in head.parameters()) == (8 * 3 + 3) + (48 * 16 + 16) + (16 * 25 + 25)


def test_crls_fcmask_differs_from_crls_in_the_mask_stage_only():
    a, b = tiny_model("crls"), tiny_model("crls-fcmask")
    assert isinstance(a.roi_heads.mask_head, RLSMaskHead) and isinstance(b.roi_heads.mask_head, FCMaskHead)
    strip = {k: v.shape for k, v in a.state_dict().items() if not k.startswith("roi_heads.mask_head.")}
    assert strip == {k: v.shape for k, v in b.state_dict().items() if not k.startswith("roi_heads.mask_head.")}
    image, target = scene(1)
    losses = b.train()([image], [target])
    assert set(losses) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask"}


def test_parameter_counts_of_the_registered_defaults():
    """Independent formulas: RLS dense 10 N^2 + 7 N (N = m^2), FC layers in*out + out, convs k^2 in out + out."""
    counts = {m: _default_model(m)[1] for m in ("crls", "maskrcnn", "crls-fcmask", "crls-lite", "crls-e2e")}
    mask = {m: mask_stage_parameters(model) for m, model in counts.items()}
    reduce = 128 * 32 + 32
    n = 21 * 21
    assert mask["crls"] == reduce + (32 * 14 * 14 * n + n) + (10 * n * n + 7 * n) == 4_718_418
    assert mask["crls-fcmask"] == reduce + (32 * 196 * 256 + 256) + (256 * n + n)
    fcn = (128 * 9 * 64 + 64) + 3 * (64 * 9 * 64 + 64)
    assert mask["maskrcnn"] == fcn + (64 * 64 * 4 + 64) + (64 * 7 + 7) == 201_479
    n = 10 * 10
    assert mask["crls-lite"] == (128 * 5 + 5) + (5 * 196 * n + n) + (10 * n * n + 7 * n) == 199_445
    assert abs(mask["crls-lite"] / mask["maskrcnn"] - 1) < 0.02
    assert mask["crls-e2e"] == mask["crls"] and count_parameters(counts["crls-e2e"]) == count_parameters(counts["crls"])
    assert count_parameters(counts["crls"]) == 8_668_290 and count_parameters(counts["maskrcnn"]) == 2_470_711
    with pytest.raises(TypeError, match="expected a CRLS or MaskRCNNBaseline"):
        mask_stage_parameters(torch.nn.Linear(2, 2))


def test_crls_e2e_config_keeps_the_box_gradient():
    config, model = _default_model("crls-e2e")
    assert config["arch"] == "crls" and config["detach_proposals"] is False
    assert model.rpn.detach_proposals is False
    assert _default_model("crls")[1].rpn.detach_proposals is True


def test_fcmask_config_is_checked():
    with pytest.raises(ValueError, match="mask_hidden must be a positive integer"):
        detector_config("crls-fcmask", 2, mask_hidden=0)
    with pytest.raises(ValueError, match="crls-fcmask has no model parameter.*'rls_steps'"):
        detector_config("crls-fcmask", 2, rls_steps=2)


def test_cli_trains_a_variant_into_its_own_checkpoint(tmp_path):
    from click.testing import CliRunner

    from lsbench.cli import main
    from lsbench.learned.weights import load_checkpoint

    shapes = {"size": 64, "train_images": 4, "val_images": 2, "test_images": 2}
    ds = [a for k, v in shapes.items() for a in ("--dataset-param", f"{k}={v}")]
    tiny = [a for kv in ("mask_size=9", "mask_channels=4", "mask_hidden=16", "representation_size=16",
                         "rpn_post_nms_test=20", "box_batch_size=8", "anchor_sizes=[8,16,32]", "detections_per_img=10",
                         "batch_size=2", "warmup_iters=1") for a in ("-p", kv)]
    out = tmp_path / "fc.pt"
    res = CliRunner().invoke(main, ["train", "crls-fcmask", "--dataset", "shapes", "--root", str(tmp_path), *ds,
                                    "--epochs", "1", "--device", "cpu", "--out", str(out), "--no-progress", *tiny])
    assert res.exit_code == 0, res.output
    ckpt = load_checkpoint(out)
    assert ckpt["method"] == "crls-fcmask" and ckpt["model_config"]["arch"] == "crls-fcmask"
    assert ckpt["model_config"]["mask_hidden"] == 16 and "roi_heads.mask_head.mask_pred.weight" in ckpt["state_dict"]
    bad = CliRunner().invoke(main, ["train", "crls-fcmask", "-p", "rls_steps=2"])
    assert bad.exit_code != 0 and "crls-fcmask has no trainable parameter 'rls_steps'" in bad.output
