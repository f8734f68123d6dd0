"""CRLS (Contextual Recurrent Level Sets, Le et al.) and its Mask R-CNN baseline, on torchvision parts.

Modules: :mod:`~lsbench.crls.roi_warp` (differentiable RoI warping), :mod:`~lsbench.crls.backbones`
(``small``, ``vgg16``, torchvision classifiers), :mod:`~lsbench.crls.heads` (RLS mask head, masked
classifier, the RoI head in the chapter's order), :mod:`~lsbench.crls.model` (configs and the two
``GeneralizedRCNN`` models), :mod:`~lsbench.crls.data` (samples <-> torchvision inputs),
:mod:`~lsbench.crls.train` (resumable end-to-end training) and :mod:`~lsbench.crls.segmenter` (the
registered methods ``crls`` and ``maskrcnn``). Importing a submodule imports torch.
"""
