"""Classic variational level-set methods as pure NumPy functions ``(image, *, params) -> mask``.

Every method follows lsbench's convention phi > 0 inside and returns a bool mask, or a
:class:`~lsbench.types.LevelSetResult` with ``return_result=True``.
"""

from lsbench.classic.chan_vese import chan_vese

__all__ = ["chan_vese"]
