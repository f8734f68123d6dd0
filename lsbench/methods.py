"""The only place methods are registered: thin adapters ``name -> Segmenter``.

A registered factory takes the method's parameters as keywords (their defaults are the
method's defaults, shown by ``lsbench list methods -v``), does the expensive work once and
returns a :class:`Segmenter`: a callable ``Sample -> Prediction``. Heavy libraries (torch) are
imported inside factories only, so ``lsbench run --methods cv`` never imports torch.

Initialisation: the contour-based classic methods default to ``init="sample"``, the
dataset-chosen initial region carried by each :class:`~lsbench.types.Sample` (so every method
starts alike); a sample without one falls back to the method's own preset (``fallback_init``).
Chan–Vese is the exception: its semi-implicit scheme with the global Dirac ``1/(1+phi^2)`` is
designed for Getreuer's checkerboard and stalls from a region's signed distance (measured on
the 360 synthetic test images: mean F = 81.9 % from the checkerboard vs 48.4 % from the initial
box's signed distance, and no better with the distance rescaled). So ``cv`` starts from the checkerboard and uses the sample's initial region
only to decide which phase is the object (``polarity="sample"``,
:func:`lsbench.levelset.polarity.orient_by_region`); ``init="sample"`` remains available.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lsbench.levelset.init import signed_distance
from lsbench.levelset.ops import to_gray
from lsbench.levelset.polarity import orient_by_region
from lsbench.registry import METHODS
from lsbench.types import Prediction, Sample

__all__ = ["ClassicSegmenter", "Segmenter"]


class Segmenter:
    """Base class of what a registered factory returns: ``segmenter(sample) -> Prediction``."""

    name: str = ""
    kind: str = "binary"
    params: dict[str, Any]

    def __call__(self, sample: Sample) -> Prediction:  # pragma: no cover - abstract
        raise NotImplementedError


class ClassicSegmenter(Segmenter):
    """Adapter from a classic level-set function ``fn(image, *, ..., init, return_result)``.

    Colour images are converted to grey (BT.601 luma). Parameter values are checked once at
    construction by a dry run on a tiny image, so a bad ``--param`` fails before the benchmark.
    """

    def __init__(self, name: str, fn: Callable[..., Any], params: dict[str, Any], *,
                 fallback_init: str = "checkerboard", extra_call: dict[str, Any] | None = None,
                 polarity: str = "phi") -> None:
        if polarity not in ("phi", "sample"):
            raise ValueError(f"{name}: polarity must be 'phi' or 'sample', got {polarity!r}")
        self.name = name
        self.fn = fn
        self.polarity = polarity
        self.params = dict(params)
        self.fallback_init = fallback_init
        self.extra_call = dict(extra_call or {})
        init = self.params.get("init")
        if isinstance(init, str) and init == "sample":
            dry_init: Any = fallback_init
        else:
            dry_init = init
        dry = {**self.params, "init": dry_init}
        if isinstance(dry_init, np.ndarray):
            dry.pop("init")
        fn(np.linspace(0.0, 1.0, 64).reshape(8, 8), **dry, **self.extra_call)

    def _init_for(self, sample: Sample) -> Any:
        init = self.params.get("init", "sample")
        if isinstance(init, str) and init == "sample":
            return sample.init if sample.init is not None else self.fallback_init
        return init

    def __call__(self, sample: Sample) -> Prediction:
        image = to_gray(sample.image)
        params = {**self.params, "init": self._init_for(sample)}
        result = self.fn(image, **params, return_result=True, **self.extra_call)
        mask = result.mask
        if self.polarity == "sample":
            mask = orient_by_region(mask, sample.init)
        return Prediction(mask=mask, n_iter=result.n_iter, converged=result.converged)


# -- Chan–Vese --------------------------------------------------------------------------------------
@METHODS.register("cv", kind="binary", tags=("classic",),
                  summary="Chan-Vese (2001), semi-implicit scheme of Getreuer (IPOL 2012), NumPy")
def _cv(mu: float = 0.25, lambda1: float = 1.0, lambda2: float = 1.0, nu: float = 0.0, dt: float = 0.5,
        tol: float = 1e-3, max_iter: int = 500, init: Any = "checkerboard", eta: float = 1e-16,
        polarity: str = "sample") -> Segmenter:
    from lsbench.classic.chan_vese import chan_vese

    params = dict(mu=mu, lambda1=lambda1, lambda2=lambda2, nu=nu, dt=dt, tol=tol, max_iter=max_iter,
                  init=init, eta=eta)
    return ClassicSegmenter("cv", chan_vese, params, extra_call={"track_energy": False}, polarity=polarity)


class _SkimageChanVese(Segmenter):
    """``skimage.segmentation.chan_vese`` as a peer, with lsbench's init and grey conversion."""

    def __init__(self, params: dict[str, Any]) -> None:
        from skimage.segmentation import chan_vese

        self.name = "skimage-cv"
        self.params = dict(params)
        self.polarity = self.params.pop("polarity")
        if self.polarity not in ("phi", "sample"):
            raise ValueError(f"skimage-cv: polarity must be 'phi' or 'sample', got {self.polarity!r}")
        self._fn = chan_vese
        for key in ("mu", "lambda1", "lambda2", "dt", "tol"):
            value = self.params[key]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value):
                raise ValueError(f"skimage-cv: {key} must be a finite number, got {value!r}")
        if not isinstance(self.params["max_iter"], int) or self.params["max_iter"] <= 0:
            raise ValueError(f"skimage-cv: max_iter must be a positive integer, got {self.params['max_iter']!r}")

    def __call__(self, sample: Sample) -> Prediction:
        image = to_gray(sample.image)
        init = self.params["init"]
        if isinstance(init, str) and init == "sample":
            init = sample.init if sample.init is not None else "checkerboard"
        if isinstance(init, np.ndarray) and init.dtype == bool:
            init = signed_distance(init)
        seg, _phi, energies = self._fn(
            image, mu=self.params["mu"], lambda1=self.params["lambda1"], lambda2=self.params["lambda2"],
            tol=self.params["tol"], max_num_iter=self.params["max_iter"], dt=self.params["dt"],
            init_level_set=init, extended_output=True)
        n_iter = len(energies)
        if self.polarity == "sample":
            seg = orient_by_region(seg, sample.init)
        return Prediction(mask=seg, n_iter=n_iter, converged=n_iter < self.params["max_iter"])


@METHODS.register("skimage-cv", kind="binary", tags=("classic", "peer"),
                  summary="scikit-image's chan_vese, the reference peer for cv (same scheme)")
def _skimage_cv(mu: float = 0.25, lambda1: float = 1.0, lambda2: float = 1.0, dt: float = 0.5,
                tol: float = 1e-3, max_iter: int = 500, init: Any = "checkerboard",
                polarity: str = "sample") -> Segmenter:
    return _SkimageChanVese(dict(mu=mu, lambda1=lambda1, lambda2=lambda2, dt=dt, tol=tol,
                                 max_iter=max_iter, init=init, polarity=polarity))


# -- DRLSE, RSF ("li"), LIC, L2S: registered below (classic methods) --------------------------------
# The contour methods start from the sample's initial region (the ground-truth box grown by 8 %,
# i.e. outside the object: DRLSE's alpha > 0 shrinks it, per the paper's sign rule); a sample
# without one starts from a centred box. The harness never asks for the energy trace.
@METHODS.register("drlse", kind="binary", tags=("classic",),
                  summary="DRLSE (Li, Xu, Gui & Fox 2010), edge-based, double-well, NumPy")
def _drlse(lambda_: float = 5.0, mu: float = 0.04, alpha: float = 1.5, epsilon: float = 1.5,
           sigma: float = 1.5, dt: float = 5.0, potential: str = "double-well", max_iter: int = 200,
           iter_inner: int = 5, iter_refine: int = 5, tol: float = 0.0, c0: float = 2.0,
           init: Any = "sample") -> Segmenter:
    from lsbench.classic.drlse import drlse

    params = dict(lambda_=lambda_, mu=mu, alpha=alpha, epsilon=epsilon, sigma=sigma, dt=dt,
                  potential=potential, max_iter=max_iter, iter_inner=iter_inner,
                  iter_refine=iter_refine, tol=tol, c0=c0, init=init)
    return ClassicSegmenter("drlse", drlse, params, fallback_init="box", extra_call={"track_energy": False})


@METHODS.register("li", kind="binary", tags=("classic",),
                  summary="Li's RSF: region-scalable fitting (Li, Kao, Gore & Ding 2008), NumPy")
def _li(lambda1: float = 1.0, lambda2: float = 1.0, nu: float = 0.001, mu: float = 1.0, sigma: float = 3.0,
        epsilon: float = 1.0, dt: float = 0.1, max_iter: int = 300, tol: float = 0.0, c0: float = 2.0,
        init: Any = "sample") -> Segmenter:
    from lsbench.classic.rsf import rsf

    params = dict(lambda1=lambda1, lambda2=lambda2, nu=nu, mu=mu, sigma=sigma, epsilon=epsilon, dt=dt,
                  max_iter=max_iter, tol=tol, c0=c0, init=init)
    return ClassicSegmenter("li", rsf, params, fallback_init="box", extra_call={"track_energy": False})


@METHODS.register("lic", kind="binary", tags=("classic",),
                  summary="LIC: level set with bias-field estimation (Li et al. 2011), NumPy")
def _lic(nu: float = 0.001, mu: float = 1.0, sigma: float = 4.0, epsilon: float = 1.0, dt: float = 0.1,
         max_iter: int = 500, iter_inner: int = 10, tol: float = 0.0, c0: float = 1.0,
         init: Any = "sample") -> Segmenter:
    from lsbench.classic.rsf import lic

    params = dict(nu=nu, mu=mu, sigma=sigma, epsilon=epsilon, dt=dt, max_iter=max_iter,
                  iter_inner=iter_inner, tol=tol, c0=c0, init=init)
    return ClassicSegmenter("lic", lic, params, fallback_init="box", extra_call={"track_energy": False})


@METHODS.register("l2s", kind="binary", tags=("classic",),
                  summary="L2S: Legendre level sets (Mukherjee & Acton 2015), NumPy")
def _l2s(degree: int = 2, nu: float = 0.2, rho: float = 0.3, lambda1: float = 1.0, lambda2: float = 1.0,
         epsilon: float = 2.0, cfl: float = 0.8, reinit_dt: float = 0.5, max_iter: int = 1200,
         tol: float = 1.0, patience: int = 20, init: Any = "sample") -> Segmenter:
    from lsbench.classic.l2s import l2s

    params = dict(degree=degree, nu=nu, rho=rho, lambda1=lambda1, lambda2=lambda2, epsilon=epsilon,
                  cfl=cfl, reinit_dt=reinit_dt, max_iter=max_iter, tol=tol, patience=patience, init=init)
    return ClassicSegmenter("l2s", l2s, params, fallback_init="box", extra_call={"track_energy": False})


# -- learned single-object methods (RLS, rls-conv, F-ConNet): registered below ---------------------
# Parameters of the learned methods: the model's (size, steps, ...), how to train when no
# checkpoint is given or cached (epochs ... augment: lsbench.learned.train.TrainConfig), where the
# weights come from (weights: a checkpoint path; else the cache; else train now), the training
# data and the device. lsbench.learned.segmenter.configs_from_params sorts them.
def _learned(method: str, params: dict[str, Any]) -> Segmenter:
    from lsbench.learned.segmenter import build_from_params

    return build_from_params(method, params)


@METHODS.register("rls", kind="binary", tags=("learned",),
                  summary="Recurrent Level Set (Le et al.), dense GRU cell on 64x64 (N=4096), PyTorch")
def _rls(size: int = 64, steps: int = 5, tie_weights: bool = True, gru: str = "rls", init: str = "disks",
         heaviside: str = "arctan", eps: float = 1.0, dirac: bool = False, normalize: bool = False,
         curvature_eta: float = 1e-2, weight_init: str = "uniform",
         epochs: int = 30, batch_size: int = 32, lr: float = 1e-3, weight_decay: float = 0.0,
         grad_clip: float = 1.0, seed: int = 0, val_fraction: float = 0.2, deep_supervision: bool = False,
         augment: bool = True, shift: int = 0, invert: bool = False,
         weights: Any = None, device: str = "auto", train_dataset: str = "synthetic",
         train_split: str = "train", train_root: Any = None) -> Segmenter:
    return _learned("rls", locals())


@METHODS.register("rls-conv", kind="binary", tags=("learned",),
                  summary="RLS with k x k convolutions for U/W (lsbench variant), any resolution, PyTorch")
def _rls_conv(size: Any = None, kernel_size: int = 5, steps: int = 5, tie_weights: bool = True,
              init: str = "disks", heaviside: str = "arctan", eps: float = 1.0, dirac: bool = False,
              normalize: bool = False, curvature_eta: float = 1e-2, weight_init: str = "uniform",
              epochs: int = 30, batch_size: int = 16, lr: float = 1e-2, weight_decay: float = 0.0,
              grad_clip: float = 1.0, seed: int = 0, val_fraction: float = 0.2, deep_supervision: bool = False,
              augment: bool = True, shift: int = 0, invert: bool = False,
              weights: Any = None, device: str = "auto", train_dataset: str = "synthetic",
              train_split: str = "train", train_root: Any = None) -> Segmenter:
    return _learned("rls-conv", locals())


@METHODS.register("fconnet", kind="binary", tags=("learned",),
                  summary="F-ConNet: two fully connected layers with a ReLU (the chapter's control), 64x64")
def _fconnet(size: int = 64, hidden: Any = None, epochs: int = 30, batch_size: int = 32, lr: float = 1e-3,
             weight_decay: float = 0.0, grad_clip: float = 1.0, seed: int = 0, val_fraction: float = 0.2,
             deep_supervision: bool = False, augment: bool = True, shift: int = 0, invert: bool = False,
             weights: Any = None, device: str = "auto",
             train_dataset: str = "synthetic", train_split: str = "train", train_root: Any = None) -> Segmenter:
    return _learned("fconnet", locals())


# -- instance-segmentation methods (CRLS, Mask R-CNN): registered below ----------------------------
# Parameters: the model's (backbone, RoI warping, RLS, sizes; None = chosen from the backbone and
# the training images, lsbench.crls.model.detector_config), training (epochs ... patience:
# lsbench.crls.train.DetectorTrainConfig), where weights and data come from (weights: a checkpoint;
# else the cache; else train now on train_dataset/train_split; backbone_weights: a local file the
# backbone starts from), the device and the mask threshold. lsbench.crls.segmenter sorts them.
def _detector(method: str, params: dict[str, Any]) -> Segmenter:
    from lsbench.crls.segmenter import build_from_params

    return build_from_params(method, params)


@METHODS.register("crls", kind="instance", tags=("learned", "instance"),
                  summary="CRLS (Le et al.): RPN -> RoI warp -> RLS mask (21x21, T=5) -> masked classifier, "
                          "torchvision parts")
def _crls(backbone: str = "small", roi_op: str = "warp", detach_proposals: bool = True, roi_size: int = 14,
          sampling_ratio: int = 2, mask_size: int = 21, mask_channels: Any = None, rls_steps: int = 5,
          rls_init: str = "disks", rls_tie_weights: bool = True, rls_gru: str = "rls",
          representation_size: Any = None, min_size: Any = None, max_size: Any = None, anchor_sizes: Any = None,
          box_batch_size: Any = None, box_positive_fraction: float = 0.25, rpn_post_nms_test: int = 300,
          box_nms: float = 0.3, box_score_thresh: float = 0.05, detections_per_img: int = 100,
          epochs: int = 5, batch_size: int = 8, optimizer: str = "adamw", lr: float = 0.001, momentum: float = 0.9,
          weight_decay: float = 1e-4,
          warmup_iters: int = 100, lr_schedule: str = "cosine", grad_clip: float = 10.0, seed: int = 0,
          hflip: bool = True, val_fraction: float = 0.1, val_limit: int = 0, patience: int = 0,
          weights: Any = None, backbone_weights: Any = None, device: str = "auto", train_dataset: str = "shapes",
          train_split: str = "train", train_root: Any = None, train_dataset_params: Any = None,
          mask_threshold: float = 0.5, inference_batch: int = 8) -> Segmenter:
    return _detector("crls", locals())


@METHODS.register("maskrcnn", kind="instance", tags=("learned", "instance"),
                  summary="Mask R-CNN baseline: torchvision MaskRCNN on CRLS's backbone, anchors, RPN and sampling")
def _maskrcnn(backbone: str = "small", representation_size: Any = None, mask_layers: Any = None,
              mask_dim: Any = None, min_size: Any = None, max_size: Any = None, anchor_sizes: Any = None,
              box_batch_size: Any = None, box_positive_fraction: float = 0.25, rpn_post_nms_test: int = 300,
              box_nms: float = 0.3, box_score_thresh: float = 0.05, detections_per_img: int = 100,
              epochs: int = 5, batch_size: int = 8, optimizer: str = "adamw", lr: float = 0.001,
              momentum: float = 0.9, weight_decay: float = 1e-4, warmup_iters: int = 100, lr_schedule: str = "cosine",
              grad_clip: float = 10.0, seed: int = 0, hflip: bool = True, val_fraction: float = 0.1,
              val_limit: int = 0, patience: int = 0, weights: Any = None, backbone_weights: Any = None,
              device: str = "auto", train_dataset: str = "shapes", train_split: str = "train",
              train_root: Any = None, train_dataset_params: Any = None, mask_threshold: float = 0.5,
              inference_batch: int = 8) -> Segmenter:
    return _detector("maskrcnn", locals())
