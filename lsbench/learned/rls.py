"""RLS, the Recurrent Level Set of Le et al.: a GRU whose hidden state is the level set phi.

One step (:class:`RLSCell`) of the chapter's Algorithm 1 (``reference/learned-methods.md`` §1.2):

1. input generation, Eq. (18): ``x_t = kappa(phi) - (U_g (I - c1)^2 + b_g) + (W_g (I - c2)^2 + c_g)``
   with ``c1``, ``c2`` the region means of ``I`` inside/outside ``phi_{t-1}`` (Eq. (16)) and
   ``kappa`` the curvature (Eq. (15)); :class:`InputForce`;
2. GRU update, Eqs. (19)-(22), reset gate applied *before* ``W_h`` (Cho et al.; the official
   ``gru_layer.py``)::

       z = sigmoid(U_z x + W_z phi + b_z)            r = sigmoid(U_r x + W_r phi + b_r)
       h~ = tanh(U_h x + W_h (r * phi) + b_h)        phi_t = (1 - z) * h~ + z * phi

   ``gru="torch"`` uses :class:`torch.nn.GRUCell` instead, which applies ``r`` *after* the
   matrix (``tanh(W_in x + b_in + r * (W_hn h + b_hn))``); the two agree only when ``r = 1``;
3. output, Eq. (23): ``o = V phi_T + b`` then a per-pixel softmax over {background, object}.

Conventions: phi > 0 is inside (the object); images are ``(B, H, W)`` float tensors in ``[0, 1]``.
The chapter's layer is dense (``kind="dense"``: every U/W is an ``N x N`` matrix, ``N = H W``,
64 x 64 in the chapter); ``kind="conv"`` (lsbench's ``rls-conv``) makes every U/W a ``k x k``
convolution, so the model runs at any resolution with a few hundred weights.

Deviations from the official Caffe code, all deliberate ("paper-faithful, not code-faithful"):

* gradients come from autograd, including through ``c1``, ``c2`` and ``kappa`` (the Caffe
  level-set layer sends none to its bottoms, and its hand-written GRU backward uses ``h(1-h)``
  for the tanh derivative);
* the official force is normalised by its maximum over the whole batch blob, and the curvature
  term is ``K |grad phi| / max``; here ``normalize=True`` (the registered ``rls``'s default,
  off in this class and in ``rls-chapter``) divides ``kappa`` and ``x`` by their per-sample
  maximum magnitude;
* the curvature is Li's central-difference ``div(grad phi / sqrt(|grad phi|^2 + eta))``
  (:func:`lsbench.torchops.curvature_central`) with ``eta = curvature_eta``; the default 1e-2
  (Li's code uses 1e-10) keeps ``d kappa / d phi`` bounded on the flat parts of phi, where a
  float32 1e-10 lets the backward pass explode;
* ``heaviside="arctan"`` (the default) uses the smooth ``H_eps`` for ``c1``, ``c2``; the
  official code effectively uses the hard ``phi > 0`` (``heaviside="hard"``);
* weights are tied across the T steps by default (the paper's recurrent cell); the Caffe
  prototxt's five layers are untied (``tie_weights=False``).

``U_g (I - c)^2`` is evaluated as ``U_g I^2 - 2 c U_g I + c^2 U_g 1``: the three products with
the image are computed once per forward pass (the map is affine and ``I`` does not change
between steps), which saves ``2 (T - 2)`` of the ``N x N`` products of a tied dense model.

References
----------
.. [1] T. H. N. Le, K. G. Quach, K. Luu, C. N. Duong, M. Savvides, "Reformulating level sets as
   deep recurrent neural network approach to semantic segmentation", IEEE TIP 27(5):2393-2407,
   2018, doi:10.1109/TIP.2018.2794205.
.. [2] T. H. N. Le, K. Luu, C. Zhu, M. Savvides, "Recurrent level set networks for instance
   segmentation", IntechOpen, 2019, doi:10.5772/intechopen.84675 (Algorithm 1, Table 1).
.. [3] K. Cho et al., "Learning phrase representations using RNN encoder-decoder for
   statistical machine translation", EMNLP 2014, doi:10.3115/v1/D14-1179.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from lsbench.learned.maps import MAP_KINDS, make_map
from lsbench.levelset import init as ls_init
from lsbench.levelset.validate import check_number, check_positive_int
from lsbench.torchops import curvature_central, dirac_arctan, region_means
from lsbench.torchops.ops import HEAVISIDES

__all__ = ["GRUS", "INITS", "RLS", "InputForce", "RLSCell", "initial_phi"]

#: the GRU variants (``gru=``)
GRUS = ("rls", "torch")
#: the phi_0 choices (``init=``); ``"sample"`` takes the dataset-chosen initial region
INITS = ("random", "disks", "checkerboard", "circle", "zeros", "sample")
ACTIVATIONS = ("tanh", "identity")
#: the weight initialisations (``weight_init=``)
WEIGHT_INITS = ("uniform", "chan-vese")
#: side (pixels) of the checkerboard phi_0, as in the PyTorch RLS ports (sin(pi x / k), k = 10)
CHECKERBOARD_SQUARE = 10.0
#: seed of the one draw of the ``"random"`` phi_0 (a constant, so that a model is a function of its config)
RANDOM_PHI0_SEED = 0


def initial_phi(init: str, shape: tuple[int, int]) -> np.ndarray:
    """phi_0 in ``[-1, 1]``, positive inside, for a preset name.

    * ``"random"``: the chapter's "randomly initial phi_0" (§3.2: "the initial contour [...]
      plays the role as initial hidden state as randomly generated"; §4): every pixel drawn
      independently and uniformly in ``[-1, 1]`` (the range of the tanh hidden state) by
      ``numpy.random.default_rng(RANDOM_PHI0_SEED)``. The chapter says no more; lsbench draws
      phi_0 *once* per grid shape and feeds that one draw to every image, in training and at
      test time, as the official code feeds one ``init_state0`` to every RoI
      (``proposal_layer.py``). So a model is a function of its config, and a prediction does
      not depend on the batch or the order of the samples. No input derived from the image or
      its ground truth enters it;
    * ``"disks"``: the official ``gen_phi(shape, 'whole')`` lattice of radius-3 disks every 8 px
      (:func:`lsbench.levelset.init.disks`), ``+1`` in the disks and ``-1`` outside;
    * ``"checkerboard"``: ``sin(pi y / 10) sin(pi x / 10)``;
    * ``"circle"``: the signed distance to a centred circle of radius 1/3 of the short side,
      divided by its largest magnitude;
    * ``"zeros"``: all zero (no inside).

    ``"sample"`` is not a preset: the segmenter builds phi_0 from each sample's initial region
    (``+1`` inside, ``-1`` outside).

    Examples
    --------
    >>> from lsbench.learned.rls import initial_phi
    >>> phi = initial_phi("random", (64, 64))
    >>> bool(abs(phi).max() <= 1), bool((initial_phi("random", (64, 64)) == phi).all())
    (True, True)
    """
    h, w = int(shape[0]), int(shape[1])
    if init == "random":
        phi = np.random.default_rng(RANDOM_PHI0_SEED).uniform(-1.0, 1.0, size=(h, w))
    elif init == "disks":
        phi = ls_init.disks((h, w))
    elif init == "checkerboard":
        phi = ls_init.checkerboard((h, w), square_size=CHECKERBOARD_SQUARE)
    elif init == "circle":
        phi = ls_init.circle((h, w))
        phi = phi / max(float(np.abs(phi).max()), 1e-12)
    elif init == "zeros":
        phi = np.zeros((h, w))
    else:
        presets = [i for i in INITS if i != "sample"]
        raise ValueError(f"init must be one of {', '.join(map(repr, presets))} (or 'sample' with a "
                         f"per-sample phi0); got {init!r}")
    return np.asarray(phi, dtype=np.float64)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def _per_sample_max_abs(v: torch.Tensor) -> torch.Tensor:
    return v.abs().amax(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(v.dtype).eps)


class InputForce(nn.Module):
    """``x = g(I, phi)``, the chapter's Eq. (18): the Chan–Vese force with learned U_g, W_g.

    Parameters
    ----------
    kind : {"dense", "conv"}
        U_g and W_g as ``N x N`` matrices or ``k x k`` convolutions (both with a bias).
    height, width : int
        Grid size (fixed for ``kind="dense"``).
    heaviside : {"arctan", "hard"}
        Heaviside of the region means ``c1``, ``c2``.
    eps : float
        Width of the arctan Heaviside (and of the Dirac of ``dirac=True``).
    dirac : bool
        Multiply the force by ``delta_eps(phi)``, as the Chan–Vese step of Eq. (14) does
        (off in the chapter's Eq. (18)).
    normalize : bool
        Divide ``kappa`` and ``x`` by their per-sample maximum magnitude (the official code's
        normalisation, made per sample).
    curvature_eta : float
        ``eta`` of :func:`lsbench.torchops.curvature_central`.
    """

    def __init__(self, kind: str, height: int, width: int, *, heaviside: str = "arctan", eps: float = 1.0,
                 dirac: bool = False, normalize: bool = False, curvature_eta: float = 1e-2,
                 kernel_size: int = 5) -> None:
        super().__init__()
        _check_choice("heaviside", heaviside, HEAVISIDES)
        self.heaviside, self.eps, self.dirac, self.normalize = heaviside, float(eps), bool(dirac), bool(normalize)
        self.curvature_eta = float(curvature_eta)
        #: output map 0 is U_g (with bias b_g), output map 1 is W_g (with bias c_g)
        self.G = make_map(kind, height, width, 2, bias=True, kernel_size=kernel_size)

    def prepare(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The image terms ``(A I^2, A I, A 1)`` shared by every step (each ``(., 2, H, W)``)."""
        ones = torch.ones_like(image[:1])
        return self.G.linear(image * image), self.G.linear(image), self.G.linear(ones)

    def forward(self, image: torch.Tensor, phi: torch.Tensor,
                prepared: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        a_i2, a_i, a_1 = self.prepare(image) if prepared is None else prepared
        c1, c2 = region_means(image, phi, self.heaviside, self.eps)  # (B, 1, 1)
        fit_in = a_i2[:, 0] - 2.0 * c1 * a_i[:, 0] + c1 * c1 * a_1[:, 0]  # U_g (I - c1)^2
        fit_out = a_i2[:, 1] - 2.0 * c2 * a_i[:, 1] + c2 * c2 * a_1[:, 1]  # W_g (I - c2)^2
        bias = self.G.bias_map()
        if bias is not None:
            fit_in = fit_in + bias[:, 0]
            fit_out = fit_out + bias[:, 1]
        kappa = curvature_central(phi, eta=self.curvature_eta)
        if self.normalize:
            kappa = kappa / _per_sample_max_abs(kappa)
        x = kappa - fit_in + fit_out
        if self.dirac:
            x = dirac_arctan(phi, self.eps) * x
        if self.normalize:
            x = x / _per_sample_max_abs(x)
        return x


class RLSCell(nn.Module):
    """One RLS step: input generation (:class:`InputForce`) and the GRU update of phi.

    Parameters
    ----------
    kind : {"dense", "conv"}
    height, width : int
    gru : {"rls", "torch"}
        ``"rls"``: the chapter's cell, reset gate before ``W_h``. ``"torch"``:
        :class:`torch.nn.GRUCell` (reset gate after the matrix; dense only, tanh only).
    activation : {"tanh", "identity"}
        Activation of the candidate ``h~`` (identity only for the Chan–Vese oracle).
    kernel_size : int
        Convolution size for ``kind="conv"``.
    **force_kwargs
        ``heaviside``, ``eps``, ``dirac``, ``normalize``, ``curvature_eta`` of :class:`InputForce`.

    Notes
    -----
    With ``gru="rls"``, ``U_z, U_r, U_h`` are one map ``U`` (3 outputs, with the gate biases
    ``b_z, b_r, b_h``), ``W_z, W_r`` one map ``W_zr`` and ``W_h`` its own map (it acts on
    ``r * phi``). The dense cell has ``3 (2 N^2 + N)`` GRU parameters plus ``2 N^2 + 2 N`` for
    ``U_g, W_g`` and their biases.
    """

    def __init__(self, kind: str, height: int, width: int, *, gru: str = "rls", activation: str = "tanh",
                 kernel_size: int = 5, **force_kwargs: Any) -> None:
        super().__init__()
        _check_choice("kind", kind, MAP_KINDS)
        _check_choice("gru", gru, GRUS)
        _check_choice("activation", activation, ACTIVATIONS)
        if gru == "torch" and kind != "dense":
            raise ValueError("gru='torch' (torch.nn.GRUCell) needs kind='dense'; use gru='rls' for conv maps")
        if gru == "torch" and activation != "tanh":
            raise ValueError("gru='torch' (torch.nn.GRUCell) has a fixed tanh; activation must be 'tanh'")
        self.kind, self.gru, self.activation = kind, gru, activation
        self.height, self.width = height, width
        self.force = InputForce(kind, height, width, kernel_size=kernel_size, **force_kwargs)
        if gru == "rls":
            self.U = make_map(kind, height, width, 3, bias=True, kernel_size=kernel_size)
            self.W_zr = make_map(kind, height, width, 2, bias=False, kernel_size=kernel_size)
            self.W_h = make_map(kind, height, width, 1, bias=False, kernel_size=kernel_size)
        else:
            n = height * width
            self.cell = nn.GRUCell(n, n)
            nn.init.zeros_(self.cell.bias_ih)  # official initialisation: gate biases start at 0
            nn.init.zeros_(self.cell.bias_hh)

    def set_chan_vese(self, *, lambda1: float = 1.0, lambda2: float = 1.0, dt: float = 0.5,
                      reset_bias: float = 30.0) -> None:
        """Hand-set the cell to one explicit Chan–Vese step (``reference/learned-methods.md`` §5.1).

        ``U_g = lambda1 I``, ``W_g = lambda2 I`` (zero biases), so ``x`` is the Chan–Vese force
        with ``mu = 1``; ``z = 1/2`` (zero update weights and bias); ``r = sigmoid(reset_bias)``
        (about 1); ``U_h = 2 dt I``, ``W_h = I``. With the identity activation the step is
        exactly ``phi + dt x``; with tanh it is ``(phi + tanh(phi + 2 dt x)) / 2``.
        """
        self.force.G.set_identity([lambda1, lambda2], bias=0.0)
        if self.gru == "rls":
            self.U.set_identity([0.0, 0.0, 2.0 * dt], bias=[0.0, reset_bias, 0.0])
            self.W_zr.set_identity([0.0, 0.0])
            self.W_h.set_identity([1.0])
            return
        n = self.height * self.width
        eye = torch.eye(n, dtype=self.cell.weight_ih.dtype)
        zero = torch.zeros_like(eye)
        with torch.no_grad():  # torch's gate order: reset, update, new
            self.cell.weight_ih.copy_(torch.cat([zero, zero, 2.0 * dt * eye]))
            self.cell.weight_hh.copy_(torch.cat([zero, zero, eye]))
            self.cell.bias_ih.zero_()
            self.cell.bias_hh.zero_()
            self.cell.bias_ih[:n] = reset_bias

    def forward(self, image: torch.Tensor, phi: torch.Tensor,
                prepared: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """``phi_t`` from ``image`` and ``phi_{t-1}`` (both ``(B, H, W)``)."""
        x = self.force(image, phi, prepared)
        if self.gru == "torch":
            return self.cell(x.flatten(1), phi.flatten(1)).view_as(phi)
        ux = self.U(x)  # (B, 3, H, W): U_z x + b_z, U_r x + b_r, U_h x + b_h
        wzr = self.W_zr(phi)  # (B, 2, H, W): W_z phi, W_r phi
        z = torch.sigmoid(ux[:, 0] + wzr[:, 0])
        r = torch.sigmoid(ux[:, 1] + wzr[:, 1])
        pre = ux[:, 2] + self.W_h(r * phi)[:, 0]
        h_tilde = torch.tanh(pre) if self.activation == "tanh" else pre
        return (1.0 - z) * h_tilde + z * phi


class RLS(nn.Module):
    """The recurrent level set: T RLS steps from phi_0 and the output head ``o = V phi_T + b``.

    Parameters
    ----------
    height, width : int
        Grid of the dense model (the chapter: 64 x 64, N = 4096). A conv model runs at any size;
        ``height``/``width`` are then only its nominal size.
    steps : int
        T, the number of unrolled steps (official CRLS prototxt: 5).
    tie_weights : bool
        One cell shared by the T steps (the paper) or T cells (the Caffe prototxt).
    kind : {"dense", "conv"}
    gru : {"rls", "torch"}
    init : {"random", "disks", "checkerboard", "circle", "zeros", "sample"}
        phi_0 (:func:`initial_phi`); ``"sample"`` requires ``phi0`` in :meth:`forward`.
        ``"random"`` is the chapter's (§3.2, §4), ``"disks"`` the official code's
        (``generate_data.py``); neither reads the image or its ground truth. ``"sample"``
        (lsbench's registered ``rls``) starts from the sample's initial region, which on the
        synthetic set is the ground-truth box grown by 8 %.
    weight_init : {"uniform", "chan-vese"}
        ``"uniform"``: the official initialisation (``gru_layer.py``, ``levelset_layer.py``):
        every U/W (and V) uniform in ``+-sqrt(1/fan_in)``, biases zero
        (:mod:`lsbench.learned.maps`), drawn from torch's global RNG (seed it with
        :func:`torch.manual_seed`). ``"chan-vese"``: each cell hand-set to one explicit
        Chan–Vese step (:meth:`RLSCell.set_chan_vese` with ``cv_lambda``, ``cv_dt``) and the
        head to ``+-head_scale phi`` (lsbench's prior; no randomness).
    heaviside, eps, dirac, normalize, curvature_eta, activation, kernel_size
        See :class:`RLSCell` and :class:`InputForce`.

    Notes
    -----
    ``forward`` returns logits ``(B, 2, H, W)`` (channel 1 = object); a per-pixel softmax gives
    the chapter's ``y^``. With tied dense weights the model has ``10 N^2 + 7 N`` parameters
    (``gru="rls"``): GRU ``3 (2 N^2 + N)``, ``U_g, W_g`` ``2 N^2 + 2 N``, ``V`` ``2 N^2 + 2 N``.

    Examples
    --------
    With tied dense weights an RLS on an 8 x 8 grid (N = 64) has ``10 N^2 + 7 N`` parameters:

    >>> import torch
    >>> from lsbench.learned.rls import RLS
    >>> sum(p.numel() for p in RLS(8, 8).parameters())
    41408

    Set to the explicit Chan–Vese step (``weight_init="chan-vese"``), the untrained network already
    segments a bright square from a box around it (channel 1 is the object):

    >>> from lsbench.levelset import box
    >>> image = torch.zeros(1, 16, 16)
    >>> image[0, 4:12, 4:12] = 1.0
    >>> phi0 = torch.from_numpy(box((16, 16))).float()[None]
    >>> model = RLS(16, 16, kind="conv", weight_init="chan-vese", init="sample")
    >>> with torch.no_grad():
    ...     logits = model(image, phi0)
    >>> logits.shape, int((logits.argmax(1) == 1).sum())
    (torch.Size([1, 2, 16, 16]), 64)
    """

    def __init__(self, height: int = 64, width: int = 64, *, steps: int = 5, tie_weights: bool = True,
                 kind: str = "dense", gru: str = "rls", init: str = "disks", heaviside: str = "arctan",
                 eps: float = 1.0, dirac: bool = False, normalize: bool = False,
                 curvature_eta: float = 1e-2, activation: str = "tanh", kernel_size: int = 5,
                 weight_init: str = "uniform", cv_lambda: float = 100.0, cv_dt: float = 2.0,
                 head_scale: float = 4.0) -> None:
        super().__init__()
        _check_choice("weight_init", weight_init, WEIGHT_INITS)
        for name, value in (("height", height), ("width", width), ("steps", steps), ("kernel_size", kernel_size)):
            check_positive_int(name, value)
        if min(height, width) < 3:
            raise ValueError(f"height and width must be at least 3, got {height} x {width}")
        _check_choice("init", init, INITS)
        for name, value in (("eps", eps), ("curvature_eta", curvature_eta)):
            check_number(name, value, minimum=0, min_open=True, what="a positive number")
        self.height, self.width, self.steps, self.tie_weights = height, width, steps, bool(tie_weights)
        self.kind, self.init = kind, init
        cell_kwargs = dict(gru=gru, activation=activation, kernel_size=kernel_size, heaviside=heaviside,
                           eps=eps, dirac=dirac, normalize=normalize, curvature_eta=curvature_eta)
        n_cells = 1 if self.tie_weights else steps
        self.cells = nn.ModuleList(RLSCell(kind, height, width, **cell_kwargs) for _ in range(n_cells))
        self.head = make_map(kind, height, width, 2, bias=True, kernel_size=kernel_size)  # V, b
        self._phi0_cache: dict[tuple[Any, ...], torch.Tensor] = {}
        if weight_init == "chan-vese":
            for cell in self.cells:
                cell.set_chan_vese(lambda1=cv_lambda, lambda2=cv_lambda, dt=cv_dt)
            self.head.set_identity([-head_scale, head_scale], bias=0.0)

    def initial_phi(self, batch: int, shape: tuple[int, int], dtype: torch.dtype,
                    device: torch.device) -> torch.Tensor:
        """The preset phi_0 for ``batch`` images of ``shape``, as a ``(B, H, W)`` tensor."""
        if self.init == "sample":
            raise ValueError("init='sample' takes phi_0 from each sample's initial region: pass phi0")
        key = (tuple(shape), dtype, str(device))
        if key not in self._phi0_cache:
            phi = torch.as_tensor(initial_phi(self.init, shape), dtype=dtype, device=device)
            self._phi0_cache[key] = phi
        return self._phi0_cache[key].expand(batch, *shape)

    def forward(self, image: torch.Tensor, phi0: torch.Tensor | None = None,
                all_steps: bool = False) -> torch.Tensor | list[torch.Tensor]:
        """Logits ``(B, 2, H, W)`` for images ``(B, H, W)`` (a list of T when ``all_steps``).

        ``phi0`` (``(B, H, W)``, positive inside) overrides the preset initial level set.
        """
        if image.dim() != 3:
            raise ValueError(f"image must have shape (B, H, W), got {tuple(image.shape)}")
        if self.kind == "dense" and tuple(image.shape[-2:]) != (self.height, self.width):
            raise ValueError(f"this dense RLS works on {self.height} x {self.width} images, got "
                             f"{tuple(image.shape[-2:])}")
        if phi0 is None:
            phi = self.initial_phi(image.shape[0], tuple(image.shape[-2:]), image.dtype, image.device)
        else:
            if phi0.shape != image.shape:
                raise ValueError(f"phi0 has shape {tuple(phi0.shape)}, image has {tuple(image.shape)}")
            phi = phi0.to(image.dtype)
        outputs: list[torch.Tensor] = []
        prepared = self.cells[0].force.prepare(image) if self.tie_weights else None
        for t in range(self.steps):
            cell = self.cells[0] if self.tie_weights else self.cells[t]
            phi = cell(image, phi, prepared)
            if all_steps or t == self.steps - 1:
                outputs.append(self.head(phi))
        return outputs if all_steps else outputs[-1]

    def evolve(self, image: torch.Tensor, phi0: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The level sets ``[phi_1, ..., phi_T]`` (for inspection and figures)."""
        phi = phi0 if phi0 is not None else self.initial_phi(image.shape[0], tuple(image.shape[-2:]),
                                                             image.dtype, image.device)
        prepared = self.cells[0].force.prepare(image) if self.tie_weights else None
        out = []
        for t in range(self.steps):
            cell = self.cells[0] if self.tie_weights else self.cells[t]
            phi = cell(image, phi, prepared)
            out.append(phi)
        return out
