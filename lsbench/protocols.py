"""Named initialisation protocols: what a method may receive that is derived from the ground truth.

A single-object run has one protocol, recorded in ``config.json`` (``protocol`` and, per method,
``ground_truth_inputs``: the inputs it actually received), in ``summary.csv`` and in every table
caption (docs/protocols.md):

* ``box`` (the default): each method may use the sample's initial region (``Sample.init``; on the
  synthetic set the ground-truth box grown by 8 %), as its initial level set (``init="sample"``)
  or to decide which phase is the object (``polarity="sample"``);
* ``blind``: no input derived from the ground truth. Every such input a method's registration
  declares is replaced by the method's own choice that needs none (a classic method's paper
  default: the checkerboard for Chan–Vese, a centred region for the contour methods; the object
  phase by the image border instead of the region); a method with no such replacement (the
  ``box`` baseline, a learned model trained from the initial region) is refused before any work.

On a dataset whose samples do not all carry an initial region (the folder dataset without
``DIR/inits/<stem>.png``, :meth:`lsbench.datasets.base.Dataset.initial_regions`), ``box`` gives a
sample without one the method's ``blind`` choice, records the share that had one, and refuses the
methods with no such choice (:func:`apply_protocol`).

Instance runs (Tables 3 and 4) are always ``blind``: the detectors receive no ground-truth input
and the instance datasets carry no per-sample initial region, so ``box`` is refused there.

The knowledge lives in the registration: ``METHODS.add(..., ground_truth=(GroundTruthInput(...),
...))`` (:attr:`lsbench.registry.Entry.ground_truth`) names each parameter that can carry a
ground-truth-derived input, the values that read it and what ``blind`` replaces them with.
:func:`apply_protocol` is the one place that reads it; a plugin declares it with a
``lsbench_ground_truth`` attribute on its factory.

Examples
--------
>>> from lsbench.registry import METHODS
>>> apply_protocol(METHODS.get("cv"), {}, "box").inputs
['object phase by the initial region (polarity)']
>>> blind = apply_protocol(METHODS.get("cv"), {}, "blind")
>>> blind.params, blind.inputs
({'polarity': 'border'}, [])
>>> apply_protocol(METHODS.get("box"), {}, "blind")
Traceback (most recent call last):
...
ValueError: method 'box' cannot run under protocol blind: its output is the sample's initial region itself; drop it from --methods or use --protocol box
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_PROTOCOL", "INSTANCE_PROTOCOL", "PROTOCOLS", "GroundTruthInput", "ProtocolParams",
           "apply_protocol", "blind_preset", "check_protocol", "ground_truth_inputs", "resolve_protocol"]

#: the protocols, in the order the command line lists them
PROTOCOLS = ("box", "blind")
#: the protocol of a single-object run that names none
DEFAULT_PROTOCOL = "box"
#: the only protocol of an instance run (module docstring)
INSTANCE_PROTOCOL = "blind"

#: label of the sample's initial region used as phi_0 (``init="sample"``)
INIT_LABEL = "initial region (init)"
#: label of the object phase chosen by the initial region (``polarity="sample"``)
POLARITY_LABEL = "object phase by the initial region (polarity)"


@dataclass(frozen=True)
class GroundTruthInput:
    """One input a registered method can receive that is derived from the ground truth.

    Parameters
    ----------
    label : str
        What the method receives, as ``config.json`` and Table 2 name it, e.g.
        ``"initial region (init)"``.
    param : str or None
        The parameter that carries it; ``None``: the method always receives it (the ``box``
        baseline, whose output is the initial region).
    reads : tuple
        The values of ``param`` that read it (``("sample",)``: the sample's initial region).
    blind : object or None
        The value of ``param`` under ``blind``; ``None``: the method cannot honour ``blind``.
    why : str
        Why it cannot (with ``blind=None``), for the refusal, e.g. how to run it otherwise.

    Examples
    --------
    >>> gt = GroundTruthInput(INIT_LABEL, "init", blind="box")
    >>> gt.received({"init": "sample"}), gt.received({"init": "box"})
    (True, False)
    """

    label: str
    param: str | None = None
    reads: tuple[Any, ...] = ("sample",)
    blind: Any = None
    why: str = ""

    def received(self, params: Mapping[str, Any]) -> bool:
        """True when a method with resolved parameters ``params`` receives this input."""
        if self.param is None:
            return True
        value = params.get(self.param)
        return isinstance(value, str) and value in self.reads

    def refusal(self, method: str, protocol: str) -> str:
        """The one-line refusal of ``method`` under ``protocol`` for want of a replacement."""
        what = (f"{self.param}={self.reads[0]!r} gives it a ground-truth-derived input, the {self.label}"
                if self.param else self.why)
        why = f"; {self.why}" if self.param and self.why else ""
        return f"method {method!r} cannot run under protocol {protocol}: {what}{why}"


@dataclass(frozen=True)
class ProtocolParams:
    """What :func:`apply_protocol` returns: the parameters to build the method with (the request's,
    with the replacements of ``blind``) and the labels of the ground-truth inputs it receives."""

    params: dict[str, Any]
    inputs: list[str]


def check_protocol(protocol: Any) -> str:
    """``protocol`` if it is one of :data:`PROTOCOLS`; else a ``ValueError`` listing them."""
    if not isinstance(protocol, str) or protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}; got {protocol!r}")
    return protocol


def resolve_protocol(protocol: str | None, kind: str) -> str:
    """The protocol of a run on a dataset of ``kind`` ("binary" or "instance"): ``protocol``, or the
    default (:data:`DEFAULT_PROTOCOL`, instance runs :data:`INSTANCE_PROTOCOL`) when None.

    >>> resolve_protocol(None, "binary"), resolve_protocol(None, "instance"), resolve_protocol("blind", "binary")
    ('box', 'blind', 'blind')
    >>> resolve_protocol("box", "instance")
    Traceback (most recent call last):
    ...
    ValueError: protocol 'box' does not apply to an instance dataset: the instance methods receive no ground-truth input and the samples carry no initial region, so instance runs are always 'blind'
    """
    if protocol is None:
        return INSTANCE_PROTOCOL if kind == "instance" else DEFAULT_PROTOCOL
    check_protocol(protocol)
    if kind == "instance" and protocol != INSTANCE_PROTOCOL:
        raise ValueError(f"protocol {protocol!r} does not apply to an instance dataset: the instance methods receive "
                         "no ground-truth input and the samples carry no initial region, so instance runs are always "
                         f"{INSTANCE_PROTOCOL!r}")
    return protocol


def ground_truth_inputs(entry: Any) -> tuple[GroundTruthInput, ...]:
    """The ground-truth inputs a registered method (a :class:`lsbench.registry.Entry`) declares."""
    return tuple(getattr(entry, "ground_truth", ()) or ())


def apply_protocol(entry: Any, params: Mapping[str, Any], protocol: str, regions: Sequence[bool] | None = None,
                   hint: str = "") -> ProtocolParams:
    """The parameters to build ``entry``'s method with under ``protocol``, and what it receives.

    Under ``box`` the parameters are ``params`` unchanged. Under ``blind`` every declared input
    the method would receive is replaced by its ``blind`` value; a value given in ``params``
    that reads the ground truth, or an input with no replacement, is refused.

    ``box`` on a dataset whose samples do not all carry an initial region (``regions``, e.g. the
    folder dataset without ``DIR/inits/<stem>.png``): a sample without one gives the method its
    ``blind`` choice (the adapters fall back to it per sample: the centred box, the border rule),
    so the input is recorded with the share of samples that had it ("... on 2 of 5 samples"), or
    not at all when none had; a method with no such choice (the ``box`` baseline, a learned model
    trained from the region) is refused, naming ``hint`` (where the regions would come from).

    Parameters
    ----------
    entry : lsbench.registry.Entry
        The registered method.
    params : mapping
        The requested parameters (overrides of the registered defaults).
    protocol : {"box", "blind"}
    regions : sequence of bool, optional
        Per sample of the run, whether it carries an initial region
        (:meth:`lsbench.datasets.base.Dataset.initial_regions`); None: every sample does.
    hint : str
        Where the dataset's initial regions come from, for the refusal.

    Returns
    -------
    ProtocolParams

    Raises
    ------
    ValueError
        A one-line refusal naming the method, the parameter and why.

    Examples
    --------
    >>> from lsbench.registry import METHODS
    >>> apply_protocol(METHODS.get("drlse"), {}, "box", regions=[True, False, True]).inputs
    ['initial region (init) on 2 of 3 samples']
    >>> apply_protocol(METHODS.get("drlse"), {}, "box", regions=[False, False]).inputs
    []
    """
    check_protocol(protocol)
    out = dict(params)
    resolved = {**entry.defaults(), **out}
    inputs: list[str] = []
    total = len(regions) if regions is not None else 0
    have = sum(bool(r) for r in regions) if regions is not None else 0
    for gt in ground_truth_inputs(entry):
        if not gt.received(resolved):
            continue
        if protocol == "box":
            if regions is None or have == total:
                inputs.append(gt.label)
            elif gt.blind is None:
                where = f"; {hint}" if hint else ""
                raise ValueError(f"method {entry.name!r} cannot run under protocol box here: it needs every "
                                 f"sample's initial region ({gt.label}), and {total - have} of {total} samples "
                                 f"have none{where}; drop it from --methods")
            elif have:
                inputs.append(f"{gt.label} on {have} of {total} samples")
        elif gt.blind is None:
            raise ValueError(gt.refusal(entry.name, protocol))
        elif gt.param in params:
            raise ValueError(f"method {entry.name!r}: {gt.param}={params[gt.param]!r} gives it a ground-truth-derived "
                             f"input, the {gt.label}, which protocol {protocol} forbids; drop it ({protocol} uses "
                             f"{gt.param}={gt.blind!r}) or use --protocol box")
        else:
            out[gt.param] = gt.blind  # type: ignore[index]
    return ProtocolParams(out, inputs)


def blind_preset(entry: Any, preset: Mapping[str, Any]) -> dict[str, Any]:
    """A preset's parameters with the values that read the ground truth replaced by their ``blind``
    value (the preset was tuned under ``box``; under ``blind`` its other values still apply).
    Values without a replacement are kept, for :func:`apply_protocol` to refuse.

    >>> from lsbench.registry import METHODS
    >>> blind_preset(METHODS.get("cv"), {"mu": 0.1, "polarity": "sample"})
    {'mu': 0.1, 'polarity': 'border'}
    """
    out = dict(preset)
    for gt in ground_truth_inputs(entry):
        if gt.param is not None and gt.blind is not None and gt.param in out and gt.received(out):
            out[gt.param] = gt.blind
    return out
