"""lsbench: benchmark classic variational level-set segmentation against learned recurrent
level-set networks (RLS / CRLS, Le et al.).

Data flows one way: dataset -> method -> metric -> table/figure. Importing :mod:`lsbench` is
cheap and never imports torch.
"""

from lsbench.types import Instances, LevelSetResult, Prediction, Sample

__version__ = "0.1.0"
__all__ = ["Instances", "LevelSetResult", "Prediction", "Sample", "__version__"]
