"""Backbones: the small CPU trunk, VGG-16 as in the chapter, torchvision classifiers by name, local weights."""

import pytest
import torch
import torchvision
from torchvision.ops.misc import FrozenBatchNorm2d

from lsbench.crls.backbones import SmallBackbone, build_backbone


def test_small_backbone_is_stride_4_with_128_channels():
    b = build_backbone("small")
    assert isinstance(b, SmallBackbone) and (b.out_channels, b.stride) == (128, 4)
    assert b(torch.zeros(2, 3, 128, 96)).shape == (2, 128, 32, 24)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in b.modules()) == 7
    s8 = build_backbone("small-s8")
    assert s8.stride == 8 and s8(torch.zeros(1, 3, 128, 96)).shape == (1, 128, 16, 12)
    with pytest.raises(ValueError, match="stride 4 or 8"):
        SmallBackbone(16)


def test_vgg16_is_conv1_1_to_relu5_3():
    b = build_backbone("vgg16")
    convs = [m for m in b.modules() if isinstance(m, torch.nn.Conv2d)]
    pools = [m for m in b.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert (len(convs), len(pools), b.out_channels, b.stride) == (13, 4, 512, 16)
    assert isinstance(list(b.children())[-1], torch.nn.ReLU)  # relu5_3, pool5 dropped
    assert all(p.requires_grad for p in b.parameters())  # from scratch nothing is frozen


def test_torchvision_classifier_trunks_are_cut_at_stride_16():
    r = build_backbone("resnet18")
    assert (r.out_channels, r.stride) == (256, 16)  # conv1 ... layer3 (C4)
    m = build_backbone("mobilenet_v3_small")
    assert m.stride == 16 and m(torch.zeros(1, 3, 64, 64)).shape[1] == m.out_channels


def test_local_weights_load_and_freeze_like_torchvision(tmp_path):
    torch.manual_seed(3)
    clf = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(clf.state_dict(), path)  # the layout of torchvision's own .pth files
    trunk = build_backbone("resnet18", weights=path)
    torch.testing.assert_close(trunk[0].weight, clf.conv1.weight)
    torch.testing.assert_close(trunk[6][0].conv1.weight, clf.layer3[0].conv1.weight)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in trunk.modules())
    assert any(isinstance(m, FrozenBatchNorm2d) for m in trunk.modules())
    assert not trunk[0].weight.requires_grad and not any(p.requires_grad for p in trunk[4].parameters())
    assert all(p.requires_grad for p in trunk[5].parameters())  # layer2 trains
    # a trunk's own state dict works too
    torch.save(build_backbone("small").state_dict(), tmp_path / "small.pt")
    assert build_backbone("small", weights=tmp_path / "small.pt").out_channels == 128


def test_weights_that_do_not_fit_are_clear_errors(tmp_path):
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "r18.pth")
    with pytest.raises(ValueError, match="do not fit backbone 'resnet34'"):
        build_backbone("resnet34", weights=tmp_path / "r18.pth")
    with pytest.raises(FileNotFoundError, match="do not exist"):
        build_backbone("small", weights=tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable PyTorch state dict"):
        build_backbone("small", weights=tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="backbone must be a non-empty name"):
        build_backbone("")
