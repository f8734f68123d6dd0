"""The only place methods are registered: ``name -> factory``, each factory returning a Segmenter.

A registered factory takes the method's parameters as keywords (their defaults are the
method's defaults, shown by ``lsbench list methods -v``), does the expensive work once and
returns a :class:`~lsbench.segmenter.Segmenter`: a callable ``Sample -> Prediction``
(:mod:`lsbench.segmenter` holds the protocol and the classic adapters). A classic method's
parameters and defaults are those of its function's signature (:class:`SignatureFactory`), so
each default is written once, in the function; the few registered defaults that differ are the
``overrides`` below. Heavy libraries (torch) are imported on first use only, so ``lsbench run
--methods cv`` never imports torch.

Initialisation: the contour-based classic methods default to ``init="sample"``, the
dataset-chosen initial region carried by each :class:`~lsbench.types.Sample` (so every method
starts alike); a sample without one falls back to the method's own preset (``fallback_init``).
Chan–Vese is the exception: its semi-implicit scheme with the global Dirac ``1/(1+phi^2)`` is
designed for Getreuer's checkerboard and stalls from a region's signed distance (measured on
the 360 synthetic test images: mean F = 81.9 % from the checkerboard vs 48.4 % from the initial
box's signed distance, and no better with the distance rescaled). So ``cv`` starts from the checkerboard and uses the sample's initial region
only to decide which phase is the object (``polarity="sample"``,
:func:`lsbench.levelset.polarity.orient_by_region`; a sample without an initial region, e.g. an
image of a folder without ``inits/``, is oriented by the image border instead,
:func:`lsbench.levelset.polarity.orient_by_sample`); ``init="sample"`` remains available.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from typing import Any

from lsbench.optional import missing_dependency, require
from lsbench.protocols import INIT_LABEL, POLARITY_LABEL, GroundTruthInput
from lsbench.registry import METHODS
from lsbench.segmenter import (
    BaselineSegmenter,
    BatchedClassicSegmenter,
    ClassicSegmenter,
    Segmenter,
    SkimageChanVese,
)

__all__: list[str] = []

#: parameters of a classic function that its adapter sets on every call (never registered)
ADAPTER_PARAMETERS = ("image", "images", "return_result", "iter_callback", "track_energy")
#: parameters of a function that choose how it computes (listed after the method's own parameters)
BACKEND_PARAMETERS = ("backend", "device", "dtype", "compile")


class SignatureFactory:
    """A registered factory whose parameters are those of a classic function, read from its signature.

    The function (``"module:name"``) is imported on first use, so that registering ``cv-torch``
    does not import torch. Its keyword parameters, less :data:`ADAPTER_PARAMETERS`, are the
    method's parameters with the function's defaults, in the function's order; then come
    ``options`` (registration-only parameters, e.g. ``polarity``), the function's
    :data:`BACKEND_PARAMETERS` and ``backend_options`` (e.g. ``batch_size``). ``overrides``
    gives a parameter a registered default other than the function's (e.g. ``init="sample"``);
    ``rename`` registers a parameter under another name. ``build(fn, params)`` makes the
    segmenter from the function and every resolved parameter.

    Examples
    --------
    >>> from lsbench.registry import METHODS
    >>> defaults = METHODS.get("drlse").defaults()
    >>> defaults["alpha"], defaults["init"]  # the function's default, and the registered override
    (1.5, 'sample')
    """

    def __init__(self, target: str, build: Callable[[Callable[..., Any], dict[str, Any]], Segmenter], *,
                 overrides: dict[str, Any] | None = None, options: dict[str, Any] | None = None,
                 backend_options: dict[str, Any] | None = None, rename: dict[str, str] | None = None,
                 skip: tuple[str, ...] = ()) -> None:
        self.target = target
        self.build = build
        self.overrides = dict(overrides or {})
        self.options = dict(options or {})
        self.backend_options = dict(backend_options or {})
        self.rename = dict(rename or {})
        self.skip = ADAPTER_PARAMETERS + tuple(skip)
        #: the registered name, in the error a missing optional dependency raises (set by ``_register``)
        self.label = target

    def function(self) -> Callable[..., Any]:
        module, _, name = self.target.partition(":")
        try:
            return getattr(importlib.import_module(module), name)
        except ModuleNotFoundError as exc:  # cv-torch ... without torch: name the extra to install
            raise missing_dependency(exc, self.label) from None

    @functools.cached_property
    def __signature__(self) -> inspect.Signature:  # read by inspect.signature, hence Entry.defaults
        own, backend = [], []
        for p in inspect.signature(self.function()).parameters.values():
            if p.name in self.skip or p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
                continue
            (backend if p.name in BACKEND_PARAMETERS else own).append((self.rename.get(p.name, p.name), p.default))
        names = {n for n, _ in own + backend}
        unknown = sorted((set(self.overrides) - names) | (names & (set(self.options) | set(self.backend_options))))
        if unknown:
            raise ValueError(f"{self.target}: overrides name no parameter of the function, or options repeat "
                             f"one: {', '.join(unknown)}")
        listed = [*own, *self.options.items(), *backend, *self.backend_options.items()]
        return inspect.Signature([inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY,
                                                    default=self.overrides.get(n, d)) for n, d in listed])

    def __call__(self, **params: Any) -> Segmenter:
        defaults = {n: p.default for n, p in self.__signature__.parameters.items()}
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise TypeError(f"{self.target}: unexpected parameter(s) {', '.join(unknown)}")
        return self.build(self.function(), {**defaults, **params})


# -- ground-truth-derived inputs (lsbench.protocols): declared with each registration ---------------
# init="sample" starts a method from the sample's initial region (on the synthetic set the
# ground-truth box grown by 8 %); under --protocol blind a classic method starts instead from the
# region it falls back to for a sample without one (its fallback_init: Chan-Vese's checkerboard, a
# centred box for the contour methods). polarity="sample" takes the object phase from the initial
# region; under blind, from the image border (polarity="border", orient_by_border).
def _init_from_sample(fallback_init: str) -> GroundTruthInput:
    return GroundTruthInput(INIT_LABEL, "init", blind=fallback_init)


_POLARITY_FROM_SAMPLE = GroundTruthInput(POLARITY_LABEL, "polarity", blind="border")


def _classic_inputs(fallback_init: str, options: dict[str, Any]) -> tuple[GroundTruthInput, ...]:
    """The ground-truth inputs of a classic method: its init, and its polarity when it has one."""
    return (_init_from_sample(fallback_init),) + ((_POLARITY_FROM_SAMPLE,) if "polarity" in options else ())


#: where Chan-Vese starts without an initial region (Getreuer's and scikit-image's default)
CV_INIT = "checkerboard"
#: where the contour methods (drlse, li, lic, l2s) start without an initial region: a centred box
CONTOUR_INIT = "box"


def _register(name: str, summary: str, factory: SignatureFactory, fallback_init: str,
              tags: tuple[str, ...] = ("classic",)) -> None:
    """Register a classic method; its ground-truth inputs follow from ``fallback_init`` and its options."""
    factory.label = name
    METHODS.add(name, factory, kind="binary", summary=summary, tags=tags,
                ground_truth=_classic_inputs(fallback_init, factory.options))


def _classic(name: str, fallback_init: str, fn: Callable[..., Any], params: dict[str, Any]) -> Segmenter:
    """``build`` of a NumPy classic method (with ``functools.partial``): a :class:`ClassicSegmenter`."""
    polarity = params.pop("polarity", "phi")
    return ClassicSegmenter(name, fn, params, fallback_init=fallback_init, extra_call={"track_energy": False},
                            polarity=polarity)


def _cv(fn: Callable[..., Any], params: dict[str, Any]) -> Segmenter:
    """``build`` of ``cv``: one image per call (batch_size 1, the per-image timing of the paper's
    protocol), or batches of same-size images evolved in parallel by :func:`~lsbench.classic.chan_vese_batch`
    (the harness groups them)."""
    batch_size = params.pop("batch_size")
    if batch_size == 1:
        return _classic("cv", CV_INIT, fn, params)
    from lsbench.classic.backend import resolve_backend
    from lsbench.classic.chan_vese import chan_vese_batch

    polarity = params.pop("polarity")
    return BatchedClassicSegmenter("cv", chan_vese_batch, params, batch_size=batch_size, fallback_init=CV_INIT,
                                   polarity=polarity, backend=resolve_backend(params["backend"]))


# -- Chan–Vese --------------------------------------------------------------------------------------
# Each classic method takes backend ("auto": the compiled numba kernels when numba imports, else
# NumPy; lsbench.classic.backend); the run's config.json records the one that ran (Segmenter.backend).
_register("cv", "Chan-Vese (2001), semi-implicit scheme of Getreuer (IPOL 2012), NumPy or numba",
          SignatureFactory("lsbench.classic.chan_vese:chan_vese", _cv, options={"polarity": "sample"},
                           backend_options={"batch_size": 1}), CV_INIT)


# scikit-image's own defaults, under cv's names (max_iter, init); extended_output is the adapter's
_register("skimage-cv", "scikit-image's chan_vese, the reference peer for cv (same scheme)",
          SignatureFactory("skimage.segmentation:chan_vese", SkimageChanVese, options={"polarity": "sample"},
                           rename={"max_num_iter": "max_iter", "init_level_set": "init"}, skip=("extended_output",)),
          CV_INIT, tags=("classic", "peer"))


# -- DRLSE, RSF ("li"), LIC, L2S: registered below (classic methods) --------------------------------
# The contour methods start from the sample's initial region (the ground-truth box grown by 8 %,
# i.e. outside the object: DRLSE's alpha > 0 shrinks it, per the paper's sign rule); a sample
# without one starts from a centred box. The harness never asks for the energy trace. l2s, the
# Legendre generalisation of Chan–Vese, also takes cv's polarity option, so that it can start like
# cv from the checkerboard (-p l2s.init=checkerboard -p l2s.polarity=sample); its default "phi" keeps
# phi > 0 as the object, as the reference code does.
_FROM_SAMPLE = {"init": "sample"}
_register("drlse", "DRLSE (Li, Xu, Gui & Fox 2010), edge-based, double-well, NumPy or numba",
          SignatureFactory("lsbench.classic.drlse:drlse", functools.partial(_classic, "drlse", CONTOUR_INIT),
                           overrides=_FROM_SAMPLE), CONTOUR_INIT)
_register("li", "Li's RSF: region-scalable fitting (Li, Kao, Gore & Ding 2008), NumPy or numba",
          SignatureFactory("lsbench.classic.rsf:rsf", functools.partial(_classic, "li", CONTOUR_INIT),
                           overrides=_FROM_SAMPLE), CONTOUR_INIT)
_register("lic", "LIC: level set with bias-field estimation (Li et al. 2011), NumPy or numba",
          SignatureFactory("lsbench.classic.rsf:lic", functools.partial(_classic, "lic", CONTOUR_INIT),
                           overrides=_FROM_SAMPLE), CONTOUR_INIT)
_register("l2s", "L2S: Legendre level sets (Mukherjee & Acton 2015), NumPy or numba",
          SignatureFactory("lsbench.classic.l2s:l2s", functools.partial(_classic, "l2s", CONTOUR_INIT),
                           overrides=_FROM_SAMPLE, options={"polarity": "phi"}), CONTOUR_INIT)


# -- batched PyTorch backends of the classic methods (cv-torch, drlse-torch, li-torch, lic-torch,
# l2s-torch): registered below. Each takes its batched function's parameters (the NumPy method's,
# same defaults) with device ("auto", "cpu", "cuda"), dtype ("float32", "float64") and compile
# (torch.compile the update; registered on, the function's default is off), plus batch_size (images
# per evolution in predict_batch, which the harness uses) and threads (torch CPU threads during the
# evolution, 1 by default: on a shared machine a second thread mostly waits,
# lsbench.torchclassic._batch.TorchThreads; lsbench.torchclassic also sets OMP_WAIT_POLICY=PASSIVE). They are separate
# names rather than a backend parameter so that one run can time both backends side by side (a run
# lists each method once) and the NumPy methods never see torch options. li-torch defaults to float64:
# RSF's curvature regulariser (1e-10 under the square root, as in RSF.m) is below float32 resolution
# for |u| ~ 10^2, so in float32 the curvature of flat regions is rounding noise that the evolution
# amplifies; at the default sigma = 3 float32 masks agreed with NumPy's on 2-87 % of the pixels of
# 12 synthetic test images, float64 on 97.7-99.9 % (sigma = 20: both 100 %). lic-torch too: in
# float32 one of the bench's 8 images at 256^2 agreed with NumPy on 42 % of its pixels, in float64
# all 8 on >= 99.99 % (lsbench.torchclassic.rsf.lic_batch).
def _batched(name: str, fallback_init: str, fn: Callable[..., Any], params: dict[str, Any]) -> Segmenter:
    """``build`` of a batched backend (with ``functools.partial``): a :class:`BatchedClassicSegmenter`."""
    from lsbench.torchclassic._batch import TorchThreads

    polarity = params.pop("polarity", "phi")
    batch_size = params.pop("batch_size")
    try:
        fn = TorchThreads(fn, params.pop("threads"))
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    return BatchedClassicSegmenter(name, fn, params, batch_size=batch_size, fallback_init=fallback_init,
                                   polarity=polarity, backend="torch")


def _register_torch(name: str, target: str, *, summary: str, fallback_init: str, overrides: dict[str, Any],
                    options: dict[str, Any] | None = None) -> None:
    _register(name, summary,
              SignatureFactory(target, functools.partial(_batched, name, fallback_init),
                               overrides={"compile": True, **overrides}, options=options,
                               backend_options={"batch_size": 32, "threads": 1}),
              fallback_init, tags=("classic", "torch"))


_register_torch("cv-torch", "lsbench.torchclassic.chan_vese:chan_vese_batch", fallback_init=CV_INIT,
                summary="Chan-Vese (cv), batched PyTorch backend: B images per evolution, CPU or CUDA",
                overrides={}, options={"polarity": "sample"})
_register_torch("drlse-torch", "lsbench.torchclassic.drlse:drlse_batch", fallback_init=CONTOUR_INIT,
                summary="DRLSE (drlse), batched PyTorch backend: B images per evolution, CPU or CUDA",
                overrides=_FROM_SAMPLE)
_register_torch("li-torch", "lsbench.torchclassic.rsf:rsf_batch", fallback_init=CONTOUR_INIT,
                summary="Li's RSF (li), batched PyTorch backend: B images per evolution, CPU or CUDA",
                overrides=_FROM_SAMPLE)
_register_torch("lic-torch", "lsbench.torchclassic.rsf:lic_batch", fallback_init=CONTOUR_INIT,
                summary="LIC (lic), batched PyTorch backend: B images per evolution, CPU or CUDA",
                overrides=_FROM_SAMPLE)
_register_torch("l2s-torch", "lsbench.torchclassic.l2s:l2s_batch", fallback_init=CONTOUR_INIT,
                summary="L2S (l2s), batched PyTorch backend: B images per evolution, CPU or CUDA",
                overrides=_FROM_SAMPLE, options={"polarity": "phi"})


# -- variants: a registered method's signature with other defaults, registered under its own name
def _variant_signature(method: str, base: Callable[..., Any], *, drop: tuple[str, ...] = (),
                       add: tuple[tuple[str, Any], ...] = (), defaults: dict[str, Any]) -> inspect.Signature:
    """``base``'s keyword signature with ``defaults`` changed, ``drop`` removed and ``add`` inserted
    before ``epochs`` (model parameters come before training's), all keyword-only."""
    defaults = dict(defaults)
    params = [p.replace(default=defaults.pop(p.name, p.default))
              for p in inspect.signature(base).parameters.values() if p.name not in drop]
    if defaults:
        raise TypeError(f"{method}: {base.__name__} has no parameter(s) {', '.join(defaults)}")
    at = next((i for i, p in enumerate(params) if p.name == "epochs"), len(params))
    params[at:at] = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=value) for name, value in add]
    return inspect.Signature([p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params],
                             return_annotation=Segmenter)


def _register_variant(method: str, summary: str, signature: inspect.Signature, build: Callable[..., Segmenter], *,
                      kind: str, tags: tuple[str, ...], ground_truth: tuple[GroundTruthInput, ...] = ()) -> None:
    """Register ``method`` with ``signature``; the factory calls ``build(method, params)`` with every parameter."""

    def factory(**kwargs: Any) -> Segmenter:
        bound = signature.bind(**kwargs)
        bound.apply_defaults()
        return build(method, dict(bound.arguments))

    factory.__signature__ = signature  # type: ignore[attr-defined]
    factory.__name__ = factory.__qualname__ = "_" + method.replace("-", "_")
    factory.__doc__ = summary
    METHODS.register(method, kind=kind, tags=tags, summary=summary, ground_truth=ground_truth)(factory)



# -- learned single-object methods (RLS, rls-conv, F-ConNet): registered below ---------------------
# Parameters of the learned methods: the model's (size, steps, ...), how to train when no
# checkpoint is given or cached (epochs ... augment: lsbench.learned.train.TrainConfig), where the
# weights come from (weights: a checkpoint path; else the cache; else an error naming the
# `lsbench train` command, or with train_missing=True train now), the training
# data and the device. lsbench.learned.segmenter.configs_from_params sorts them.
#
# Defaults. The architecture is the chapter's (dense N = 4096 cell, T = 5, tied weights, softmax
# head), with the hard Heaviside in c1, c2 that the official code effectively uses: the hidden
# state lives in (-1, 1) (tanh), where the arctan H_eps with eps = 1 stays within [0.25, 0.75]
# and barely separates the two regions (untrained Chan–Vese-initialised model on the train
# split: F 67.4 % hard vs 64.9 % arctan). Three lsbench choices make the dense `rls` generalise
# to the synthetic test split, whose ten scenes are never seen in training (measured F on the
# 360 test images, README "Learned methods"): phi_0 is the sample's initial region (`init="sample"`, the
# region every classic method starts from, as lsbench's rule is); the cell starts as the
# explicit Chan–Vese step it reformulates (`weight_init="chan-vese"`, cv_lambda = 100 and
# cv_dt = 2, the smallest setting on the plateau of the untrained model's F on the *train*
# split); and training translates and inverts images (`shift=12`, `invert=True`) against the
# position and polarity priors a dense matrix otherwise learns. The force is normalised per sample
# (`normalize=True`, the official code's normalisation by the maximum, per sample instead of per
# batch): chosen by 5-fold leave-scenes-out cross-validation on the training split, 78.0 +- 14.0 %
# validation F against 55.7 +- 31.5 % without (reports/recipes/README.md). The chapter's own
# setting is registered as `rls-chapter` below. `rls-conv`'s recipe was chosen the same way: Adam at
# lr 1e-3, no normalisation (76.1 +- 7.5 %; lr 1e-2: 66.9 +- 14.1 %, with normalisation 75.7 +- 8.5 %,
# normalisation and lr 1e-3 together 73.1 +- 7.4 %).
def _trained_from_sample(method: str) -> tuple[GroundTruthInput, ...]:
    """A learned model whose phi_0 is the sample's initial region: under blind it would start elsewhere
    than it was trained from, so it is refused unless its init is changed (another model, trained on its own)."""
    return (GroundTruthInput(INIT_LABEL, "init",
                             why=f"its weights were trained from that region, and phi_0 from elsewhere would be "
                                 f"another model; set -p {method}.init=disks (a model started from the chapter's "
                                 f"disk lattice: `lsbench train {method} -p init=disks` trains it)"),)


def _learned(method: str, params: dict[str, Any]) -> Segmenter:
    require("torch", method)
    from lsbench.learned.segmenter import build_from_params

    return build_from_params(method, params)


@METHODS.register("rls", kind="binary", tags=("learned",), ground_truth=_trained_from_sample("rls"),
                  summary="Recurrent Level Set (Le et al.), dense GRU cell on 64x64 (N=4096), PyTorch")
def _rls(size: int = 64, steps: int = 5, tie_weights: bool = True, gru: str = "rls", init: str = "sample",
         heaviside: str = "hard", eps: float = 1.0, dirac: bool = False, normalize: bool = True,
         curvature_eta: float = 1e-2, weight_init: str = "chan-vese", cv_lambda: float = 100.0,
         cv_dt: float = 2.0, epochs: int = 10, batch_size: int = 32, lr: float = 1e-4, weight_decay: float = 0.0,
         grad_clip: float = 1.0, seed: int = 0, val_fraction: float = 0.2, deep_supervision: bool = False,
         augment: bool = True, shift: int = 12, invert: bool = True,
         weights: Any = None, train_missing: bool = False, device: str = "auto",
         train_dataset: str = "synthetic", train_split: str = "train", train_root: Any = None) -> Segmenter:
    return _learned("rls", locals())


@METHODS.register("rls-conv", kind="binary", tags=("learned",), ground_truth=_trained_from_sample("rls-conv"),
                  summary="RLS with k x k convolutions for U/W (lsbench variant), any resolution, PyTorch")
def _rls_conv(size: Any = None, kernel_size: int = 5, steps: int = 5, tie_weights: bool = True,
              init: str = "sample", heaviside: str = "arctan", eps: float = 1.0, dirac: bool = False,
              normalize: bool = False, curvature_eta: float = 1e-2, weight_init: str = "uniform",
              cv_lambda: float = 100.0, cv_dt: float = 2.0,
              epochs: int = 20, batch_size: int = 16, lr: float = 1e-3, weight_decay: float = 0.0,
              grad_clip: float = 1.0, seed: int = 0, val_fraction: float = 0.2, deep_supervision: bool = False,
              augment: bool = True, shift: int = 0, invert: bool = False,
              weights: Any = None, train_missing: bool = False, device: str = "auto",
              train_dataset: str = "synthetic", train_split: str = "train", train_root: Any = None) -> Segmenter:
    return _learned("rls-conv", locals())


@METHODS.register("fconnet", kind="binary", tags=("learned",),
                  summary="F-ConNet: two fully connected layers with a ReLU (the chapter's control), 64x64")
def _fconnet(size: int = 64, hidden: Any = None, epochs: int = 30, batch_size: int = 32, lr: float = 1e-3,
             weight_decay: float = 0.0, grad_clip: float = 1.0, seed: int = 0, val_fraction: float = 0.2,
             deep_supervision: bool = False, augment: bool = True, shift: int = 0, invert: bool = False,
             weights: Any = None, train_missing: bool = False, device: str = "auto",
             train_dataset: str = "synthetic", train_split: str = "train", train_root: Any = None) -> Segmenter:
    return _learned("fconnet", locals())


# -- the chapter's RLS as the chapter ran it, and the untrained RLS (issue 14) ---------------------
# `rls` above is lsbench's box-initialised variant (phi_0 = the sample's initial region, derived
# from the ground truth on the synthetic set). `rls-chapter` is the chapter's own setting: phi_0
# generated randomly (§3.2, Eq. 18-19; §4 "randomly initial phi_0": lsbench.learned.rls.initial_phi
# "random", one seeded uniform draw in [-1, 1] fed to every image; the official lattice of disks
# with init="disks"), the official uniform +-sqrt(1/N) weights with zero biases, the chapter's
# arctan H_eps with eps = 1 (§2.3) in c1, c2, no force normalisation; the same dense architecture
# (N = 64 x 64, T = 5, tied weights) and the same budget as `rls` (10 epochs, batch 32, Adam).
# It reads nothing derived from the ground truth (init="sample" is refused), so it runs under the
# `blind` protocol. Training: Adam at TrainConfig's lr 1e-3 (the chapter gives SGD 1e-3..1e-4
# for CRLS only), dihedral augmentation as every learned method, and neither `shift` nor
# `invert` (lsbench's remedies for the box-initialised model; `invert` needs phi_0 to carry
# the polarity). The recipe is to be chosen with `lsbench train rls-chapter --cv 5`
# (docs/training.md, "Choosing a recipe").
def _rls_variant_signature(method: str, **defaults: Any) -> inspect.Signature:
    return _variant_signature(method, _rls, defaults=defaults)


def _learned_blind(method: str, params: dict[str, Any]) -> Segmenter:
    if params.get("init") == "sample":
        raise ValueError(f"{method} takes no input derived from the ground truth: init must be one of "
                         "'random', 'disks', 'checkerboard', 'circle', 'zeros', not 'sample' (use rls for the "
                         "box-initialised RLS)")
    return _learned(method, params)


_register_variant("rls-chapter", "RLS as the chapter ran it: random phi_0, uniform weights, dense 64x64, T=5; "
                  "no ground-truth input", _rls_variant_signature(
                      "rls-chapter", init="random", heaviside="arctan", normalize=False, weight_init="uniform",
                      lr=1e-3, shift=0, invert=False),
                  _learned_blind, kind="binary", tags=("learned",))


# `rls-untrained`: `rls` with the weights its training starts from (weight_init; for "uniform"
# drawn with `seed`, as lsbench.learned.train.initial_model does), never trained and never read
# from the cache: the prior that training improves on. Its parameters are rls's model parameters
# (those before `epochs`), `seed` and `device`, with rls's defaults (so it starts from the sample's
# initial region, the Chan–Vese-initialised cell).
def _untrained(method: str, params: dict[str, Any]) -> Segmenter:
    require("torch", method)
    from lsbench.learned.segmenter import build_untrained

    return build_untrained(method, "rls", params)


def _untrained_signature() -> inspect.Signature:
    names = list(inspect.signature(_rls).parameters)
    training_and_sources = [n for n in names[names.index("epochs"):] if n not in ("seed", "device")]
    return _variant_signature("rls-untrained", _rls, drop=tuple(training_and_sources), defaults={})


# Like rls it starts from the sample's initial region under `box`; never trained, it has no training
# distribution to leave, so under `blind` it starts from the chapter's disk lattice instead.
_register_variant("rls-untrained", "baseline: rls with its initial weights (Chan–Vese-set cell), never trained",
                  _untrained_signature(), _untrained, kind="binary", tags=("baseline",),
                  ground_truth=(GroundTruthInput(INIT_LABEL, "init", blind="disks"),))


# -- instance-segmentation methods (CRLS, Mask R-CNN): registered below ----------------------------
# Parameters: the model's (backbone, RoI warping, RLS, sizes; None = chosen from the backbone and
# the training images, lsbench.crls.model.detector_config), training (epochs ... patience:
# lsbench.crls.train.DetectorTrainConfig), where weights and data come from (weights: a checkpoint;
# else the cache; else an error naming the `lsbench train` command, or with train_missing=True train
# now on train_dataset/train_split; backbone_weights: a local file the
# backbone starts from), the device and the mask threshold. lsbench.crls.segmenter sorts them.
# epochs = 7: on shapes (2000 training images, batch 8) CRLS trained 7 epochs in 28 min and Mask
# R-CNN in 20 min, each on one core of the 2-core CPU, inside the 30-minute budget of the issue.
def _detector(method: str, params: dict[str, Any]) -> Segmenter:
    require("torch", method)
    require("torchvision", method)
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
          epochs: int = 7, batch_size: int = 8, optimizer: str = "adamw", lr: float = 0.001, momentum: float = 0.9,
          weight_decay: float = 1e-4,
          warmup_iters: int = 100, lr_schedule: str = "cosine", grad_clip: float = 10.0, seed: int = 0,
          hflip: bool = True, val_fraction: float = 0.1, val_limit: int = 0, patience: int = 0,
          weights: Any = None, train_missing: bool = False, backbone_weights: Any = None, device: str = "auto",
          train_dataset: str = "shapes", train_split: str = "train", train_root: Any = None, train_dataset_params: Any = None,
          mask_threshold: float = 0.5, inference_batch: int = 8) -> Segmenter:
    return _detector("crls", locals())


@METHODS.register("maskrcnn", kind="instance", tags=("learned", "instance"),
                  summary="Mask R-CNN baseline: torchvision MaskRCNN on CRLS's backbone, anchors, RPN and sampling")
def _maskrcnn(backbone: str = "small", representation_size: Any = None, mask_layers: Any = None,
              mask_dim: Any = None, min_size: Any = None, max_size: Any = None, anchor_sizes: Any = None,
              box_batch_size: Any = None, box_positive_fraction: float = 0.25, rpn_post_nms_test: int = 300,
              box_nms: float = 0.3, box_score_thresh: float = 0.05, detections_per_img: int = 100,
              epochs: int = 7, batch_size: int = 8, optimizer: str = "adamw", lr: float = 0.001,
              momentum: float = 0.9, weight_decay: float = 1e-4, warmup_iters: int = 100, lr_schedule: str = "cosine",
              grad_clip: float = 10.0, seed: int = 0, hflip: bool = True, val_fraction: float = 0.1,
              val_limit: int = 0, patience: int = 0, weights: Any = None, train_missing: bool = False,
              backbone_weights: Any = None,
              device: str = "auto", train_dataset: str = "shapes", train_split: str = "train",
              train_root: Any = None, train_dataset_params: Any = None, mask_threshold: float = 0.5,
              inference_batch: int = 8) -> Segmenter:
    return _detector("maskrcnn", locals())


# -- CRLS variants for a fair comparison (issue 14): the ablation, the parameter-matched CRLS, the
# chapter's end-to-end box gradient. Each takes crls's parameters and defaults except those named
# here, trains with the same recipe and is cached under its own name.
def _crls_variant(method: str, summary: str, *, drop: tuple[str, ...] = (),
                  add: tuple[tuple[str, Any], ...] = (), **defaults: Any) -> None:
    """Register ``method``: ``crls``'s signature with ``defaults`` changed, ``drop`` removed, ``add`` appended."""
    signature = _variant_signature(method, _crls, drop=drop, add=add, defaults=defaults)
    _register_variant(method, summary, signature, _detector, kind="instance", tags=("learned", "instance"))


_RLS_KEYS = ("rls_steps", "rls_init", "rls_tie_weights", "rls_gru")
# MNC's mask stage (fc6_maskest 256 + ReLU -> mask_pred 21 x 21) in place of the RLS, on the same
# reduced RoI features: the ablation that says what the RLS adds (lsbench.crls.heads.FCMaskHead).
_crls_variant("crls-fcmask", "CRLS ablation: MNC's plain FC mask stage (256 -> 21x21 logits) in place of the RLS, "
              "all else as crls", drop=_RLS_KEYS, add=(("mask_hidden", 256),))
# CRLS with a mask stage of Mask R-CNN's size (199,445 parameters against maskrcnn's 201,479; crls:
# 4,718,418): a 10 x 10 RLS grid on RoI features reduced to 5 channels.
_crls_variant("crls-lite", "CRLS with a mask stage of Mask R-CNN's parameter count (10x10 RLS, 5-channel RoI "
              "features; 0.20 M)", mask_size=10, mask_channels=5)
# The chapter's end-to-end training (§4): the head losses reach the RPN's box deltas through the
# differentiable RoI warp (detach_proposals=False; crls keeps torchvision's detached proposals).
_crls_variant("crls-e2e", "CRLS trained end to end through the box coordinates (detach_proposals=False, as the "
              "chapter)", detach_proposals=False)


# -- sanity baselines (otsu, box): registered below -------------------------------------------------
# What a method adds over a one-line global threshold and over the prior it was given
# (lsbench.baselines). `otsu` orients its threshold like cv, by the sample's initial region
# (polarity="sample"); polarity="border" (the phase touching less of the image border, which
# --protocol blind uses) needs no ground truth. `box` returns the sample's initial region itself,
# so it cannot run under blind.
@METHODS.register("otsu", kind="binary", tags=("baseline",), ground_truth=(_POLARITY_FROM_SAMPLE,),
                  summary="baseline: one global Otsu threshold (scikit-image), object phase by a polarity rule")
def _otsu(polarity: str = "sample") -> Segmenter:
    from lsbench.baselines import otsu

    return BaselineSegmenter("otsu", otsu, dict(polarity=polarity))


@METHODS.register("box", kind="binary", tags=("baseline",),
                  ground_truth=(GroundTruthInput("initial region as the mask",
                                                 why="its output is the sample's initial region itself; drop it "
                                                     "from --methods or use --protocol box"),),
                  summary="baseline: the sample's initial region (ground-truth box grown by 8 %) as the mask")
def _box() -> Segmenter:
    from lsbench.baselines import box

    return BaselineSegmenter("box", box, {})
