"""CRLS and the Mask R-CNN baseline on tiny inputs: losses, gradients, outputs, bad input, no download."""

import pytest
import torch
import torchvision

from lsbench.crls.model import CRLS, MaskRCNNBaseline, build_detector, check_images, detector_config
from tests.crls.conftest import N_CLASSES, SIZE, scene, tiny_config, tiny_model

LOSSES = {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask"}


def _grad(module):
    return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)


def test_train_mode_gives_the_five_losses_and_backward_reaches_every_stage(arch):
    model = tiny_model(arch).train()
    images, targets = zip(*[scene(0), scene(1, n=2)], strict=True)
    losses = model(list(images), list(targets))
    assert set(losses) == LOSSES
    assert all(torch.isfinite(v) and v.dim() == 0 for v in losses.values())
    sum(losses.values()).backward()
    stages = {"backbone": model.backbone, "rpn head": model.rpn.head}
    if arch == "crls":
        heads = model.roi_heads
        stages.update({"mask fc (fc6_maskest)": heads.mask_head.fc_maskest, "RLS cell": heads.mask_head.rls.cells,
                       "RLS output": heads.mask_head.rls.head, "box path": heads.classifier.box_path,
                       "mask path": heads.classifier.mask_path, "classifier": heads.classifier.predictor})
    elif arch == "crls-fcmask":
        heads = model.roi_heads
        stages.update({"mask fc (fc6_maskest)": heads.mask_head.fc_maskest, "mask_pred": heads.mask_head.mask_pred,
                       "box path": heads.classifier.box_path, "mask path": heads.classifier.mask_path,
                       "classifier": heads.classifier.predictor})
    else:
        heads = model.roi_heads
        stages.update({"box head": heads.box_head, "box predictor": heads.box_predictor,
                       "mask head": heads.mask_head, "mask predictor": heads.mask_predictor})
    for name, module in stages.items():
        assert _grad(module) > 0, f"no gradient reached the {name}"


def test_classification_loss_back_propagates_into_the_rls():
    """The chapter's dependent losses: the classifier sees the RLS mask, so its loss trains the RLS."""
    model = tiny_model("crls").train()
    image, target = scene(2)
    model([image], [target])["loss_classifier"].backward()
    assert _grad(model.roi_heads.mask_head.rls) > 0


def test_warp_without_detach_sends_head_gradients_to_the_rpn_regression():
    image, target = scene(3)
    grads = {}
    for roi_op in ("warp", "align"):
        model = tiny_model("crls", roi_op=roi_op, detach_proposals=False).train()
        losses = model([image], [target])
        (losses["loss_mask"] + losses["loss_classifier"]).backward()  # no RPN loss term
        grads[roi_op] = _grad(model.rpn.head.bbox_pred)
    assert grads["warp"] > 0  # through the warped features to the box coordinates to the RPN deltas
    assert grads["align"] == 0  # RoIAlign has no gradient for boxes
    model = tiny_model("crls", roi_op="warp", detach_proposals=True).train()
    losses = model([image], [target])
    (losses["loss_mask"] + losses["loss_classifier"]).backward()
    assert _grad(model.rpn.head.bbox_pred) == 0


def test_eval_returns_boxes_labels_scores_and_masks(arch):
    model = tiny_model(arch).eval()
    image, _ = scene(4, size=(48, 72))
    with torch.no_grad():
        (out,) = model([image])
    n = out["boxes"].shape[0]
    assert 0 < n <= model.roi_heads.detections_per_img
    assert out["boxes"].shape == (n, 4) and out["labels"].shape == (n,) and out["scores"].shape == (n,)
    assert out["masks"].shape == (n, 1, 48, 72)
    assert out["labels"].min() >= 1 and out["labels"].max() <= N_CLASSES
    assert float(out["masks"].min()) >= 0 and float(out["masks"].max()) <= 1
    assert (out["boxes"][:, 2:] >= out["boxes"][:, :2]).all() and out["boxes"][:, 2].max() <= 72


def test_an_image_without_objects_trains_without_nan(arch):
    model = tiny_model(arch).train()
    empty_image, empty = scene(5, n=0)
    assert empty["boxes"].shape == (0, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for step in range(3):
        batch = [(empty_image, empty)] if step != 1 else [(empty_image, empty), scene(6)]
        losses = model(*map(list, zip(*batch, strict=True)))
        assert all(torch.isfinite(v) for v in losses.values()), losses
        opt.zero_grad()
        sum(losses.values()).backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        opt.step()
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_greyscale_images_are_handled_and_rgba_is_refused(arch):
    model = tiny_model(arch).eval()
    image, _ = scene(7)
    with torch.no_grad():
        rgb = model([image[:1].expand(3, -1, -1)])[0]
        for grey in (image[0], image[:1]):
            out = model([grey])[0]
            torch.testing.assert_close(out["scores"], rgb["scores"])
    rgba = torch.cat([image, torch.ones(1, SIZE, SIZE)])
    with pytest.raises(ValueError, match="RGBA: drop the alpha channel"):
        model([rgba])
    with pytest.raises(TypeError, match="float images"):
        model([(image * 255).to(torch.uint8)])
    assert [t.shape for t in check_images([image[0], image])] == [(3, SIZE, SIZE)] * 2


def test_bad_training_targets_are_clear_errors(arch):
    model = tiny_model(arch).train()
    image, target = scene(8)
    for key in ("boxes", "labels", "masks"):
        bad = {k: v for k, v in target.items() if k != key}
        with pytest.raises(ValueError, match=f"has no '{key}'"):
            model([image], [bad])
    with pytest.raises(ValueError, match="training mode needs targets"):
        model([image])
    degenerate = {**target, "boxes": target["boxes"].clone()}
    degenerate["boxes"][0, 2] = degenerate["boxes"][0, 0]
    with pytest.raises(ValueError, match="zero width or height"):
        model([image], [degenerate])
    with pytest.raises(ValueError, match="has label 7 but the model has 3 classes"):
        model([image], [{**target, "labels": torch.full_like(target["labels"], 7)}])


def test_config_is_checked_and_completed():
    cfg = detector_config("crls", 6, image_shape=(128, 128))
    assert (cfg["min_size"], cfg["max_size"], cfg["anchor_sizes"]) == (128, 128, [16, 32, 64])
    assert cfg["aspect_ratios"] == [0.5, 1.0, 2.0] and cfg["mask_size"] == 21 and cfg["rls_steps"] == 5
    assert (cfg["rpn_fg_iou"], cfg["rpn_bg_iou"], cfg["rpn_batch_size"], cfg["rpn_nms"]) == (0.7, 0.3, 256, 0.7)
    assert cfg["rpn_post_nms_test"] == 300 and cfg["class_names"] == [f"class {k}" for k in range(1, 7)]
    big = detector_config("crls", 20, image_shape=(375, 500), backbone="vgg16")
    assert (big["min_size"], big["max_size"], big["anchor_sizes"]) == (600, 1000, [128, 256, 512])
    assert (big["rpn_pre_nms_train"], big["rpn_pre_nms_test"], big["representation_size"]) == (12000, 6000, 4096)
    with pytest.raises(ValueError, match="no model parameter"):
        detector_config("crls", 6, mask_layers=[8])
    with pytest.raises(ValueError, match="roi_op must be one of 'warp', 'align'"):
        detector_config("crls", 6, roi_op="pool")
    with pytest.raises(ValueError, match="roi_size must be an even number"):
        detector_config("crls", 6, roi_size=7)
    with pytest.raises(ValueError, match="arch must be one of"):
        detector_config("fcn", 6)
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        detector_config("maskrcnn", 0)


def test_weights_round_trip_exactly(arch, tmp_path):
    model = tiny_model(arch, seed=1).eval()
    path = tmp_path / "w.pt"
    torch.save(model.state_dict(), path)
    other = tiny_model(arch, seed=2).eval()
    other.load_state_dict(torch.load(path, weights_only=True))
    image, _ = scene(9)
    with torch.no_grad():
        a, b = model([image])[0], other([image])[0]
    for k in ("boxes", "labels", "scores", "masks"):
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


def test_building_never_downloads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torchvision.models._api.WeightsEnum, "get_state_dict", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    for arch in ("crls", "maskrcnn"):
        for backbone in ("small", "resnet18"):
            model = build_detector(detector_config(arch, 6, image_shape=(128, 128), backbone=backbone))
            assert isinstance(model, CRLS if arch == "crls" else MaskRCNNBaseline)
    from lsbench.crls.backbones import build_backbone

    assert build_backbone("vgg16").out_channels == 512
    model = tiny_model("crls").eval()
    with torch.no_grad():
        model([scene(10)[0]])


def test_unknown_backbone_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown backbone 'resnet7'; choose 'small', 'vgg16' or a torchvision"):
        build_detector(detector_config("crls", 6, image_shape=(128, 128), backbone="resnet7"))
    with pytest.raises(ValueError, match="no convolutional trunk"):
        build_detector(detector_config("maskrcnn", 6, image_shape=(128, 128), backbone="vit_b_16"))
    with pytest.raises(TypeError, match="out_channels"):
        build_detector(tiny_config("crls"), backbone=torch.nn.ReLU())
