"""Classic variational level-set methods as pure NumPy functions ``(image, *, params) -> mask``.

Every method follows lsbench's convention phi > 0 inside and returns a bool mask, or a
:class:`~lsbench.types.LevelSetResult` with ``return_result=True``.

* :func:`chan_vese` — Chan & Vese (2001), Getreuer's semi-implicit scheme;
* :func:`drlse` — Li, Xu, Gui & Fox (2010), edge-based distance-regularised level sets;
* :func:`rsf` — Li, Kao, Gore & Ding (2008), region-scalable fitting (lsbench "li");
* :func:`lic` — Li et al. (2011), level sets with joint bias-field estimation;
* :func:`l2s` — Mukherjee & Acton (2015), Legendre level sets.
"""

from lsbench.classic.chan_vese import chan_vese
from lsbench.classic.drlse import drlse
from lsbench.classic.l2s import l2s
from lsbench.classic.rsf import lic, rsf

__all__ = ["chan_vese", "drlse", "l2s", "lic", "rsf"]
