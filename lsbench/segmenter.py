"""The :class:`Segmenter` protocol and the adapters of the classic level-set functions.

A registered method is a factory ``(**params) -> Segmenter`` (:mod:`lsbench.methods`), and a
:class:`Segmenter` is a callable ``Sample -> Prediction``. Besides the call it *declares* two
optional capabilities, which the harness uses and never guesses at:

``predict_batch(samples)``
    Predictions for many samples at once. The base class predicts one sample after another; a
    segmenter that overrides it has a native batched path (learned models, the batched PyTorch
    backends), and the harness then measures its throughput. :attr:`Segmenter.batch_size` says
    how many samples the harness hands to one call while benchmarking (1: one call per sample).
``trace(sample, callback)``
    The benchmarked call with ``callback(IterInfo)`` after every iteration (the level-set
    evolution of a classic method), with the same initialisation and phase choice; a segmenter
    that overrides it can be traced (:mod:`lsbench.harness.convergence`).

:func:`batches_natively`, :func:`harness_batch_size` and :func:`can_trace` read these
declarations for any object a factory returned (a plain callable declares none).

The adapters: :class:`ClassicSegmenter` (a classic function ``fn(image, *, ..., init,
return_result, iter_callback)``, :mod:`lsbench.classic`), :class:`BatchedClassicSegmenter` (its
batched PyTorch backend, :mod:`lsbench.torchclassic`) and :class:`SkimageChanVese`
(scikit-image's ``chan_vese``, the peer of ``cv``). Learned methods live in
:mod:`lsbench.learned.segmenter` and :mod:`lsbench.crls.segmenter`.

Examples
--------
>>> import numpy as np
>>> from lsbench.classic.chan_vese import chan_vese
>>> from lsbench.types import Sample
>>> image = np.zeros((16, 16), np.float32)
>>> image[4:12, 4:12] = 1.0
>>> segmenter = ClassicSegmenter("cv", chan_vese, {"max_iter": 50, "init": "checkerboard"})
>>> prediction = segmenter(Sample("square", image))
>>> int(prediction.mask.sum()) in (64, 192)  # the square, or its complement (polarity "phi")
True
>>> steps = []
>>> _ = segmenter.trace(Sample("square", image), lambda info: steps.append(info.iteration))
>>> steps[:3], can_trace(segmenter), batches_natively(segmenter)
([1, 2, 3], True, False)
"""

from __future__ import annotations

import abc
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lsbench.levelset.init import signed_distance
from lsbench.levelset.iteration import IterCallback, IterInfo
from lsbench.levelset.ops import to_gray
from lsbench.levelset.polarity import border_counts, sample_prefers_complement
from lsbench.types import Prediction, Sample

__all__ = ["POLARITIES", "BaselineSegmenter", "BatchedClassicSegmenter", "ClassicSegmenter", "Segmenter",
           "SkimageChanVese", "batches_natively", "can_trace", "harness_batch_size", "takes_complement"]


class Segmenter(abc.ABC):
    """What a registered factory returns: ``segmenter(sample) -> Prediction``, with declared capabilities.

    Attributes
    ----------
    name : str
        The registered name.
    kind : {"binary", "instance"}
        What it predicts: ``Prediction.mask`` or ``Prediction.instances``.
    params : dict
        The parameters it was built with.
    batch_size : int
        Samples the harness hands to one :meth:`predict_batch` call while benchmarking (1: one
        call per sample, timed at batch 1).
    backend : str
        Which implementation runs the method (``"numpy"``, ``"numba"``, ``"torch"``; ``""`` where
        there is only one), recorded in the run's ``config.json``.
    """

    name: str = ""
    kind: str = "binary"
    params: dict[str, Any]
    batch_size: int = 1
    backend: str = ""

    @abc.abstractmethod
    def __call__(self, sample: Sample) -> Prediction:
        """The prediction for one sample."""

    def predict_batch(self, samples: Sequence[Sample]) -> list[Prediction]:
        """Predictions for ``samples``, in order. Here one call per sample; a segmenter with a
        native batched path overrides this (:func:`batches_natively`)."""
        return [self(s) for s in samples]

    def describe(self) -> dict[str, Any]:
        """Facts about the built model that a run records in ``config.json`` under ``models``
        (e.g. a detector's parameter counts); here none."""
        return {}

    def trace(self, sample: Sample, callback: IterCallback) -> Prediction:
        """Predict ``sample`` calling ``callback(IterInfo)`` after every iteration; overridden by the
        segmenters that iterate (:func:`can_trace`). Here: a ``TypeError``."""
        raise TypeError(f"{self.name or type(self).__name__} has no iter_callback to trace "
                        "(only the classic level-set adapters, ClassicSegmenter, can be traced)")


def batches_natively(segmenter: Any) -> bool:
    """True when ``segmenter`` declares a batched path of its own (a :class:`Segmenter` overriding
    :meth:`Segmenter.predict_batch`)."""
    return isinstance(segmenter, Segmenter) and type(segmenter).predict_batch is not Segmenter.predict_batch


def harness_batch_size(segmenter: Any) -> int:
    """How many samples the harness gives ``segmenter`` at once: its :attr:`Segmenter.batch_size`
    when it batches natively (the batched classic backends), else 1 (one sample per call)."""
    if not batches_natively(segmenter):
        return 1
    size = segmenter.batch_size
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 1 else 1


def can_trace(segmenter: Any) -> bool:
    """True when ``segmenter`` declares :meth:`Segmenter.trace` (a :class:`Segmenter` overriding it)."""
    return isinstance(segmenter, Segmenter) and type(segmenter).trace is not Segmenter.trace


#: the phase rules of the classic adapters (``polarity=``): ``"phi"`` the object is ``phi > 0``;
#: ``"sample"`` the phase concentrated in the sample's initial region (ground-truth-derived on the
#: synthetic set; :func:`~lsbench.levelset.polarity.orient_by_sample`); ``"border"`` the phase
#: touching less of the image border, which needs no ground truth
#: (:func:`~lsbench.levelset.polarity.orient_by_border`; the rule of ``--protocol blind``)
POLARITIES = ("phi", "sample", "border")


def _check_polarity(name: str, polarity: Any) -> str:
    if polarity not in POLARITIES:
        raise ValueError(f"{name}: polarity must be one of {', '.join(map(repr, POLARITIES))}, got {polarity!r}")
    return polarity


def takes_complement(polarity: str, mask: np.ndarray, region: np.ndarray | None) -> bool:
    """True when the phase rule ``polarity`` (:data:`POLARITIES`) makes the complement of ``mask`` the object.

    >>> frame = np.ones((4, 4), bool); frame[1:3, 1:3] = False
    >>> [takes_complement(p, frame, frame) for p in POLARITIES]
    [False, False, True]
    """
    if polarity == "sample":
        return sample_prefers_complement(mask, region)
    if polarity == "border":
        on, off = border_counts(mask)
        return on > off
    return False


def _orient(polarity: str, mask: np.ndarray, region: np.ndarray | None) -> np.ndarray:
    """``mask`` or its complement, whichever is the object by the rule ``polarity``."""
    mask = np.asarray(mask, dtype=bool)
    return ~mask if takes_complement(polarity, mask, region) else mask


#: the iteration counts of the classic functions that the construction-time check caps at 1
CHECKED_ITERATIONS = ("max_iter", "iter_inner", "iter_refine")


def _check_run_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` for the construction-time check: every valid count of :data:`CHECKED_ITERATIONS`
    above 1 lowered to 1, so that the check validates every value (the function checks them at its
    top) without running the evolution a huge ``max_iter`` asks for in the parent process, where no
    ``--timeout-per-sample`` applies. A value that is not a positive integer is passed on as given,
    for the function to refuse with its own message.

    >>> _check_run_params({"max_iter": 10**12, "iter_inner": 0, "iter_refine": True, "mu": 0.5})
    {'max_iter': 1, 'iter_inner': 0, 'iter_refine': True, 'mu': 0.5}
    """
    out = dict(params)
    for name in CHECKED_ITERATIONS:
        value = out.get(name)
        if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 1:
            out[name] = 1
    return out


def _object_positive(phi: np.ndarray, complement: bool) -> np.ndarray:
    """``phi``, or (``complement``) a level set positive exactly where ``phi <= 0``: ``-phi`` with the
    pixels on the zero level raised to the smallest positive float, so that ``result > 0`` is
    ``~(phi > 0)``, the complement mask the phase rule returns."""
    if not complement:
        return phi
    phi = np.asarray(phi)
    return np.where(phi > 0, -phi, np.maximum(-phi, np.finfo(phi.dtype).tiny))


class ClassicSegmenter(Segmenter):
    """Adapter from a classic level-set function ``fn(image, *, ..., init, return_result, iter_callback)``.

    Colour images are converted to grey (BT.601 luma). Parameter values are checked once at
    construction by a dry run on a tiny image with the iteration counts capped at one
    (:data:`CHECKED_ITERATIONS`), so a bad ``--param`` fails before the benchmark and a huge
    ``max_iter`` is left to the run, where ``--timeout-per-sample`` bounds it.

    Parameters
    ----------
    name : str
    fn : callable
        The classic function (:mod:`lsbench.classic`).
    params : dict
        Its parameters; ``init="sample"`` starts from the sample's initial region
        (``Sample.init``), or ``fallback_init`` for a sample without one.
    fallback_init : str
    extra_call : dict, optional
        Keywords added to every call (e.g. ``track_energy=False``: the benchmark does not trace).
    polarity : {"phi", "sample", "border"}
        ``"phi"``: the object is ``phi > 0``; ``"sample"``: the phase concentrated in the sample's
        initial region (:func:`lsbench.levelset.polarity.orient_by_region`), or for a sample
        without one the phase touching less of the image border
        (:func:`lsbench.levelset.polarity.orient_by_sample`); ``"border"``: the phase touching less
        of the image border whatever the sample carries (no ground-truth input; ``--protocol blind``).
    """

    def __init__(self, name: str, fn: Callable[..., Any], params: dict[str, Any], *,
                 fallback_init: str = "checkerboard", extra_call: dict[str, Any] | None = None,
                 polarity: str = "phi") -> None:
        self.polarity = _check_polarity(name, polarity)
        self.name = name
        self.fn = fn
        self.params = dict(params)
        self.fallback_init = fallback_init
        self.extra_call = dict(extra_call or {})
        init = self.params.get("init")
        if isinstance(init, str) and init == "sample":
            dry_init: Any = fallback_init
        else:
            dry_init = init
        dry = {**_check_run_params(self.params), "init": dry_init}
        if isinstance(dry_init, np.ndarray):
            dry.pop("init")
        fn(np.linspace(0.0, 1.0, 64).reshape(8, 8), **dry, **self.extra_call)
        if "backend" in self.params:  # "auto" resolved once, to the implementation that runs
            from lsbench.classic.backend import resolve_backend

            self.backend = resolve_backend(self.params["backend"])

    def _init_for(self, sample: Sample) -> Any:
        init = self.params.get("init", "sample")
        if isinstance(init, str) and init == "sample":
            return sample.init if sample.init is not None else self.fallback_init
        return init

    def _run(self, sample: Sample, **call: Any) -> Prediction:
        image = to_gray(sample.image)
        params = {**self.params, "init": self._init_for(sample)}
        result = self.fn(image, **params, return_result=True, **{**self.extra_call, **call})
        if not np.all(np.isfinite(result.phi)):  # mask = phi > 0 would silently hide a diverged run
            raise FloatingPointError(f"{self.name}: the level set phi is NaN or infinite after {result.n_iter} "
                                     "iterations (the scheme diverged; try a smaller time step)")
        mask = _orient(self.polarity, result.mask, sample.init)
        return Prediction(mask=mask, n_iter=result.n_iter, converged=result.converged)

    def __call__(self, sample: Sample) -> Prediction:
        return self._run(sample)

    def trace(self, sample: Sample, callback: IterCallback) -> Prediction:
        """The benchmarked call with the energy tracked and ``callback(IterInfo)`` after every iteration.

        ``IterInfo.phi > 0`` is the object as the prediction would take it at that iteration: with
        ``polarity="sample"`` or ``"border"`` the level set is negated at the iterations where the
        phase choice takes the complement. ``callback`` returning True stops the evolution, as for the function.
        """
        def relay(info: IterInfo) -> bool | None:
            if self.polarity != "phi":
                info = info._replace(phi=_object_positive(info.phi, takes_complement(self.polarity, info.phi > 0,
                                                                                     sample.init)))
            return callback(info)

        return self._run(sample, iter_callback=relay, track_energy=True)


class BatchedClassicSegmenter(Segmenter):
    """Adapter from a batched classic function ``fn(images, *, ..., init) -> list[LevelSetResult]``.

    The batched PyTorch backends (:mod:`lsbench.torchclassic`) behind ``cv-torch``,
    ``drlse-torch``, ``li-torch``, ``lic-torch`` and ``l2s-torch``, and ``cv`` with ``batch_size > 1``
    (:func:`lsbench.classic.chan_vese_batch`, images in parallel with numba). ``segmenter(sample)`` runs a
    batch of one; :meth:`predict_batch` groups the samples by image size and evolves each group in
    batches of up to :attr:`batch_size` images, which is how the harness runs these methods (the
    per-image time it records is then the batch's wall time divided by its size). Parameters are
    checked once at construction by a dry run on two tiny images (uncompiled, iteration counts
    capped at one as for :class:`ClassicSegmenter`), so a bad
    ``--param``, a missing CUDA device included, fails before the benchmark.
    """

    def __init__(self, name: str, fn: Callable[..., Any], params: dict[str, Any], *, batch_size: int = 32,
                 fallback_init: str = "box", polarity: str = "phi", backend: str = "torch") -> None:
        self.polarity = _check_polarity(name, polarity)
        self.backend = backend
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"{name}: batch_size must be a positive integer, got {batch_size!r}")
        self.name = name
        self.fn = fn
        self.params = dict(params)
        self.batch_size = batch_size
        self.fallback_init = fallback_init
        init = self.params.get("init")
        dry = _check_run_params(self.params) | ({"compile": False} if "compile" in self.params else {})
        if isinstance(init, str) and init == "sample":
            dry["init"] = fallback_init
        ramp = np.linspace(0.0, 1.0, 64).reshape(8, 8)
        fn([ramp, ramp.T], **dry)

    def _init_for(self, sample: Sample) -> Any:
        init = self.params.get("init", "sample")
        if isinstance(init, str) and init == "sample":
            return sample.init if sample.init is not None else self.fallback_init
        return init

    def __call__(self, sample: Sample) -> Prediction:
        return self.predict_batch([sample])[0]

    def predict_batch(self, samples: Sequence[Sample]) -> list[Prediction]:
        """Predictions for ``samples``, in order (same-size samples are evolved together)."""
        samples = list(samples)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, s in enumerate(samples):
            groups.setdefault(s.shape, []).append(i)
        out: list[Prediction | None] = [None] * len(samples)
        for idx in groups.values():
            for k in range(0, len(idx), self.batch_size):
                part = [samples[i] for i in idx[k:k + self.batch_size]]
                inits = [self._init_for(s) for s in part]
                init: Any = inits[0] if all(isinstance(v, str) and v == inits[0] for v in inits) else inits
                results = self.fn([to_gray(s.image) for s in part], **{**self.params, "init": init})
                for i, s, res in zip(idx[k:k + self.batch_size], part, results, strict=True):
                    mask = _orient(self.polarity, res.mask, s.init)
                    out[i] = Prediction(mask=mask, n_iter=res.n_iter, converged=res.converged)
        return [p for p in out if p is not None]


class SkimageChanVese(Segmenter):
    """``skimage.segmentation.chan_vese`` (``fn``) as a peer, with lsbench's init and grey conversion.

    ``params`` use the names of :func:`lsbench.classic.chan_vese.chan_vese` (``max_iter``,
    ``init``) for scikit-image's ``max_num_iter`` and ``init_level_set``; ``init="sample"``
    starts from the signed distance of the sample's initial region.
    """

    def __init__(self, fn: Callable[..., Any], params: dict[str, Any]) -> None:
        self.name = "skimage-cv"
        self.params = dict(params)
        self.polarity = _check_polarity("skimage-cv", self.params.pop("polarity"))
        self._fn = fn
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
        seg = _orient(self.polarity, seg, sample.init)
        return Prediction(mask=seg, n_iter=n_iter, converged=n_iter < self.params["max_iter"])


class BaselineSegmenter(Segmenter):
    """Adapter from a sanity baseline ``fn(image, *, region, **params) -> mask`` (:mod:`lsbench.baselines`).

    The function gets the grey image and the sample's initial region (``Sample.init``); the
    parameters are checked once, on a tiny image, before any sample. ``polarity="sample"`` is the
    rule of :func:`lsbench.levelset.polarity.orient_by_sample`, as for ``cv``: by the region, by
    the image border for a sample without one (the folder dataset without ``DIR/inits``); ``box``
    refuses such a sample.
    """

    def __init__(self, name: str, fn: Callable[..., np.ndarray], params: dict[str, Any]) -> None:
        self.name, self._fn, self.params = name, fn, dict(params)
        try:  # check the parameters once, before any sample
            fn(np.linspace(0.0, 1.0, 64).reshape(8, 8), region=np.eye(8, dtype=bool), **self.params)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{name}: {exc}") from None

    def __call__(self, sample: Sample) -> Prediction:
        params = dict(self.params)
        if sample.init is None:
            if "polarity" not in params:
                raise ValueError(f"{self.name}: sample {sample.id!r} carries no initial region (Sample.init), "
                                 "which this baseline returns")
            if params["polarity"] == "sample":  # orient_by_sample's rule without a region
                params["polarity"] = "border"
        return Prediction(mask=self._fn(to_gray(sample.image), region=sample.init, **params))
