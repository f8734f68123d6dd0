"""The contract every registered method keeps, and the classic methods' defaults written once.

Every registered method (torch ones only where torch imports) is built, run on a tiny sample and
on a sample whose target is empty, and must return the right types: a :class:`Segmenter` whose
call gives a :class:`Prediction` with a bool mask of the image's shape (single-object methods) or
with :class:`Instances` at image size (instance methods), which the harness accepts and scores.
Learned methods are built from a just-initialised checkpoint written here (``weights=``), so
nothing trains; a third-party method that would need training is skipped, saying so.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from lsbench.harness.work import check_prediction
from lsbench.levelset.iteration import IterInfo
from lsbench.registry import METHODS, METRICS
from lsbench.segmenter import Segmenter, batches_natively, can_trace
from lsbench.types import Instances, Prediction, Sample

SIZE = 24
#: small configurations of the learned methods (architecture only: nothing is trained)
LEARNED_TINY = {
    "rls": {"size": 8, "steps": 2},
    "rls-conv": {"size": 16, "kernel_size": 3, "steps": 2},
    "fconnet": {"size": 8, "hidden": 16},
}
SHAPES = {"size": 64, "train_images": 8, "val_images": 3, "test_images": 3}
DETECTOR_TINY = {
    "crls": {"mask_size": 9, "rls_steps": 1, "mask_channels": 4},
    "maskrcnn": {"mask_layers": [8], "mask_dim": 8},
}
DETECTOR_COMMON = {"representation_size": 16, "rpn_post_nms_test": 30, "box_batch_size": 16,
                   "anchor_sizes": [8, 16, 32], "detections_per_img": 10, "train_dataset": "shapes",
                   "train_dataset_params": SHAPES, "inference_batch": 4}


def _binary_samples() -> list[Sample]:
    yy, xx = np.mgrid[:SIZE, :SIZE]
    square = (abs(yy - 12) < 6) & (abs(xx - 11) < 6)
    image = np.where(square, 0.8, 0.2).astype(np.float32)
    image += np.random.default_rng(0).normal(0, 0.02, image.shape).astype(np.float32)
    init = (abs(yy - 12) < 8) & (abs(xx - 11) < 8)
    blank = np.full((SIZE, SIZE), 0.5, np.float32)
    return [Sample("square", np.clip(image, 0, 1), mask=square, init=init),
            Sample("empty", blank, mask=np.zeros((SIZE, SIZE), bool), init=init)]  # the baselines read init


def _instance_samples() -> list[Sample]:
    rng = np.random.default_rng(1)
    image = rng.uniform(0.0, 0.2, (64, 64, 3)).astype(np.float32)
    masks = np.zeros((1, 64, 64), bool)
    masks[0, 16:40, 20:44] = True
    image[masks[0]] = [0.9, 0.2, 0.2]
    empty = Instances(np.zeros((0, 64, 64), bool), np.zeros(0, np.int64))
    return [Sample("one", image, instances=Instances(masks, np.array([1]))),
            Sample("none", rng.uniform(0, 1, (64, 64, 3)).astype(np.float32), instances=empty)]


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory):
    from lsbench.datasets import load

    root = tmp_path_factory.mktemp("shapes")
    load("shapes", root=root, split="train", **SHAPES)
    return root


def _untrained_learned(name: str, tmp_path) -> dict:
    from lsbench.learned.models import build_model
    from lsbench.learned.segmenter import configs_from_params
    from lsbench.learned.weights import save_checkpoint

    params = {**METHODS.get(name).defaults(), **LEARNED_TINY[name]}
    config, train = configs_from_params(name, params)
    path = save_checkpoint(tmp_path / f"{name}.pt", method=name, model_config=config, train_config=train.as_dict(),
                           state_dict=build_model(config).state_dict(), data={}, val_metrics={})
    return {**LEARNED_TINY[name], "device": "cpu", "weights": str(path)}


def _untrained_detector(name: str, tmp_path, root) -> dict:
    from lsbench.crls.model import build_detector
    from lsbench.crls.segmenter import configs_from_params, training_data
    from lsbench.learned.weights import save_checkpoint

    params = {**METHODS.get(name).defaults(), **DETECTOR_COMMON, **DETECTOR_TINY[name], "train_root": str(root)}
    train_set, _ = training_data("shapes", "train", str(root), SHAPES)
    config, train = configs_from_params(name, params, train_set)
    path = save_checkpoint(tmp_path / f"{name}.pt", method=name, model_config=config, train_config=train.as_dict(),
                           state_dict=build_detector(config).state_dict(), data={}, val_metrics={})
    return {**DETECTOR_COMMON, **DETECTOR_TINY[name], "train_root": str(root), "device": "cpu",
            "weights": str(path)}


def _params(name: str, tmp_path, request) -> dict:
    """Parameters that build ``name`` quickly and without training."""
    entry = METHODS.get(name)
    if "torch" in entry.tags or "learned" in entry.tags:
        pytest.importorskip("torch")
    if "torch" in entry.tags:
        return {"compile": False, "device": "cpu", "max_iter": 20}
    if name in LEARNED_TINY:
        return _untrained_learned(name, tmp_path)
    if name in DETECTOR_TINY:
        return _untrained_detector(name, tmp_path, request.getfixturevalue("shapes_root"))
    if "learned" in entry.tags:
        pytest.skip(f"{name} is a learned method from {entry.source}: building it would train it")
    return {}


@pytest.mark.parametrize("name", METHODS.names())
def test_every_registered_method_builds_and_predicts_the_right_types(name, tmp_path, request):
    entry = METHODS.get(name)
    segmenter = METHODS.build(name, **_params(name, tmp_path, request))
    if entry.source == "lsbench":  # a plugin may return a plain callable; lsbench's own are Segmenters
        assert isinstance(segmenter, Segmenter) and segmenter.name == name and segmenter.kind == entry.kind
    samples = _instance_samples() if entry.kind == "instance" else _binary_samples()
    metric = METRICS.build("instance" if entry.kind == "instance" else "binary")
    for sample in samples:  # the second one has an empty target
        pred = segmenter(sample)
        assert isinstance(pred, Prediction)
        if entry.kind == "instance":
            assert pred.mask is None and isinstance(pred.instances, Instances)
            assert pred.instances.masks.dtype == bool and pred.instances.masks.shape[1:] == sample.shape
        else:
            assert pred.instances is None and isinstance(pred.mask, np.ndarray)
            assert pred.mask.dtype == bool and pred.mask.shape == sample.shape
        check_prediction(pred, sample, entry.kind)  # what the harness accepts
        scores = metric(pred, sample)
        assert scores and all(isinstance(v, float) and not math.isinf(v) for v in scores.values())


@pytest.mark.parametrize("name", METHODS.names())
def test_declared_capabilities_work(name, tmp_path, request):
    """predict_batch gives one valid prediction per sample; a traceable method calls back every iteration and
    ends where the benchmarked call ends."""
    entry = METHODS.get(name)
    segmenter = METHODS.build(name, **_params(name, tmp_path, request))
    samples = _instance_samples() if entry.kind == "instance" else _binary_samples()
    if isinstance(segmenter, Segmenter):
        batch = segmenter.predict_batch(samples)
        assert len(batch) == len(samples) and all(isinstance(p, Prediction) for p in batch)
        for p, s in zip(batch, samples, strict=True):
            check_prediction(p, s, entry.kind)
    if "learned" in entry.tags or "torch" in entry.tags:
        assert batches_natively(segmenter)
    if can_trace(segmenter):
        seen: list[IterInfo] = []
        traced = segmenter.trace(samples[0], seen.append)
        assert [i.iteration for i in seen] == list(range(1, len(seen) + 1)) and len(seen) == traced.n_iter
        np.testing.assert_array_equal(seen[-1].phi > 0, segmenter(samples[0]).mask)
        np.testing.assert_array_equal(traced.mask, segmenter(samples[0]).mask)
    else:
        with pytest.raises(TypeError, match="trace"):
            segmenter.trace(samples[0], lambda info: None)


# -- classic defaults: written once, in the functions -------------------------------------------------------
#: registered name -> (module, function) whose signature gives the method's parameters
CLASSIC = {
    "cv": ("lsbench.classic.chan_vese", "chan_vese"),
    "drlse": ("lsbench.classic.drlse", "drlse"),
    "li": ("lsbench.classic.rsf", "rsf"),
    "lic": ("lsbench.classic.rsf", "lic"),
    "l2s": ("lsbench.classic.l2s", "l2s"),
    "cv-torch": ("lsbench.torchclassic.chan_vese", "chan_vese_batch"),
    "drlse-torch": ("lsbench.torchclassic.drlse", "drlse_batch"),
    "li-torch": ("lsbench.torchclassic.rsf", "rsf_batch"),
    "lic-torch": ("lsbench.torchclassic.rsf", "lic_batch"),
    "l2s-torch": ("lsbench.torchclassic.l2s", "l2s_batch"),
}
#: what the adapter sets on every call: never a registered parameter
CALL_ONLY = {"image", "images", "return_result", "iter_callback", "track_energy"}
#: the registered defaults that deliberately differ from the function's
OVERRIDES = {"init": "sample"}  # the contour methods start from the sample's initial region
TORCH_OVERRIDES = {"compile": True}
#: registration-only parameters
EXTRAS = {"cv": {"polarity": "sample", "batch_size": 1}, "l2s": {"polarity": "phi"},
          "cv-torch": {"polarity": "sample"}, "l2s-torch": {"polarity": "phi"}}


def _function(name):
    import importlib

    module, fn = CLASSIC[name]
    if name.endswith("-torch"):
        pytest.importorskip("torch")
    return getattr(importlib.import_module(module), fn)


def _keyword_defaults(fn) -> dict:
    return {k: p.default for k, p in inspect.signature(fn).parameters.items() if k not in CALL_ONLY}


def test_every_classic_registration_is_covered():
    classic = {n for n in METHODS.names() if "classic" in METHODS.get(n).tags and "peer" not in METHODS.get(n).tags}
    assert classic == set(CLASSIC)


@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_registered_classic_defaults_come_from_the_function_signature(name):
    expected = _keyword_defaults(_function(name))
    if name not in ("cv", "cv-torch"):  # cv starts from the checkerboard, like its function
        assert expected["init"] == "box"
        expected.update(OVERRIDES)
    if name.endswith("-torch"):
        assert expected["compile"] is False  # the function's default; the registration compiles
        expected.update(TORCH_OVERRIDES)
        expected["batch_size"] = 32
        expected["threads"] = 1  # torch CPU threads during the evolution
    expected.update(EXTRAS.get(name, {}))
    registered = METHODS.get(name).defaults()
    assert registered == expected
    assert list(registered)[:3] == list(expected)[:3]  # the function's order, its own parameters first


@pytest.mark.parametrize("name", ["cv", "drlse", "li", "lic", "l2s"])
def test_the_torch_twins_share_the_numpy_defaults(name):
    numpy_defaults = _keyword_defaults(_function(name))
    torch_defaults = _keyword_defaults(_function(f"{name}-torch"))
    shared = set(numpy_defaults) & set(torch_defaults)
    assert shared >= {"max_iter", "init", "tol"}
    assert {k: torch_defaults[k] for k in shared} == {k: numpy_defaults[k] for k in shared}


def test_skimage_cv_takes_scikit_images_defaults_under_cvs_names():
    from skimage.segmentation import chan_vese

    sk = {k: p.default for k, p in inspect.signature(chan_vese).parameters.items()}
    registered = METHODS.get("skimage-cv").defaults()
    assert registered["max_iter"] == sk["max_num_iter"] and registered["init"] == sk["init_level_set"]
    assert all(registered[k] == sk[k] for k in ("mu", "lambda1", "lambda2", "tol", "dt"))
    assert registered["polarity"] == "sample" and "extended_output" not in registered


def test_an_override_of_a_parameter_the_function_lacks_is_refused():
    from lsbench.methods import SignatureFactory

    factory = SignatureFactory("lsbench.classic.drlse:drlse", lambda fn, params: params, overrides={"bogus": 1})
    with pytest.raises(ValueError, match="bogus"):
        inspect.signature(factory)
    with pytest.raises(TypeError, match="unexpected parameter"):
        SignatureFactory("lsbench.classic.drlse:drlse", lambda fn, params: params)(bogus=1)
