"""Backbones: the timm plugin, the contract over registered backbones, timm-format pretrained folders."""

import pytest
import timm
import torch
from timm.models import save_for_hf

import galzoo_fm
from galzoo_fm.testing import check_backbone

# A spread of timm families: CNN, ConvNeXt, EfficientNet, a transformer with a fixed input size, and a
# MobileNetV3 whose pooled width (head_hidden_size) differs from num_features.
TIMM_SAMPLE = ["resnet18", "convnext_atto", "efficientnet_b0", "vit_tiny_patch16_224", "mobilenetv3_small_050"]


def test_list_backbones_pattern():
    names = galzoo_fm.list_backbones("convnext*")
    assert "convnext_nano" in names and "convnext_atto" in names
    assert all(n.startswith("convnext") for n in names)
    assert set(timm.list_models()) <= set(galzoo_fm.list_backbones())


@pytest.mark.parametrize("name", TIMM_SAMPLE)
def test_timm_backbones_follow_the_contract(name):
    check_backbone(name, in_chans=(1, 4), image_size=32)


def _plugin_backbones():
    registry = galzoo_fm.plugins.get_registry("backbones")
    return [n for n in registry.names() if registry.entry(n).metadata.get("library") != "timm"]


@pytest.mark.parametrize("name", _plugin_backbones())
def test_every_non_timm_backbone_follows_the_contract(name):
    check_backbone(name)


def test_unknown_backbone_suggests_names():
    with pytest.raises(ValueError, match="unknown backbone 'convnext_nanoo'; did you mean 'convnext_nano'"):
        galzoo_fm.get_backbone("convnext_nanoo")


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_in_chans(bad):
    with pytest.raises(ValueError, match="in_chans must be a positive integer"):
        galzoo_fm.get_backbone("resnet18", in_chans=bad)


@pytest.fixture
def timm_folder(tmp_path):
    """A folder in the timm / Hugging Face layout, written by timm itself (as Zoobot publishes encoders)."""
    torch.manual_seed(1)
    model = timm.create_model("resnet18", num_classes=0)
    save_for_hf(model, tmp_path / "resnet18_hf", safe_serialization=True)
    return tmp_path / "resnet18_hf", model


def test_pretrained_local_folder_loads_the_weights(timm_folder):
    folder, reference = timm_folder
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    backbone = galzoo_fm.get_backbone("resnet18", in_chans=3, pretrained=str(folder))
    ref = reference.state_dict()
    got = backbone.model.state_dict()
    assert ref.keys() == got.keys()
    assert all(torch.equal(ref[k], got[k]) for k in ref)
    x = torch.randn(2, 3, 32, 32)
    reference.eval(), backbone.eval()
    with torch.no_grad():
        torch.testing.assert_close(backbone(x), reference(x), rtol=0, atol=0)


def test_pretrained_folder_adapts_first_conv_to_bands(timm_folder):
    folder, reference = timm_folder
    backbone = galzoo_fm.get_backbone("resnet18", in_chans=1, pretrained=str(folder))
    w_ref = reference.conv1.weight  # (64, 3, 7, 7)
    w = backbone.model.conv1.weight
    assert w.shape == (64, 1, 7, 7)
    # timm's rule for one band: the sum over the RGB filters
    torch.testing.assert_close(w, w_ref.sum(dim=1, keepdim=True))
    assert torch.equal(backbone.model.layer1[0].conv1.weight, reference.layer1[0].conv1.weight)


def test_pretrained_pytorch_model_bin(tmp_path, timm_folder):
    _, reference = timm_folder
    save_for_hf(reference, tmp_path / "bin", safe_serialization=False)
    assert (tmp_path / "bin" / "pytorch_model.bin").is_file()
    assert not (tmp_path / "bin" / "model.safetensors").exists()
    backbone = galzoo_fm.get_backbone("resnet18", pretrained=str(tmp_path / "bin"))
    assert torch.equal(backbone.model.conv1.weight, reference.conv1.weight)
    assert torch.equal(backbone.model.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)


def test_pretrained_folder_errors(tmp_path, timm_folder):
    folder, _ = timm_folder
    with pytest.raises(ValueError, match="holds a 'resnet18' model, but backbone 'resnet34' was asked for"):
        galzoo_fm.get_backbone("resnet34", pretrained=str(folder))
    with pytest.raises(ValueError, match="no such folder"):
        galzoo_fm.get_backbone("resnet18", pretrained=str(tmp_path / "nope"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="has no config.json"):
        galzoo_fm.get_backbone("resnet18", pretrained=str(empty))
    (empty / "config.json").write_text((folder / "config.json").read_text())
    with pytest.raises(ValueError, match="no weights"):
        galzoo_fm.get_backbone("resnet18", pretrained=str(empty))


@pytest.mark.remote_data
def test_zoobot_encoder_from_the_hub():
    encoder = galzoo_fm.Encoder.from_pretrained("hf_hub:mwalmsley/zoobot-encoder-convnext_nano")
    assert encoder.num_features == 640


def test_random_init_resnets_do_not_zero_their_last_batchnorm_unless_asked():
    """timm zeroes each residual block's last BatchNorm by default; the package does not (docs/low_label.rst)."""
    from galzoo_fm.models.backbones import TimmBackbone

    ours = TimmBackbone("resnet18", in_chans=3)
    timms = TimmBackbone("resnet18", in_chans=3, zero_init_last=True)
    assert float(ours.model.layer1[0].bn2.weight.detach().abs().min()) == 1.0
    assert float(timms.model.layer1[0].bn2.weight.detach().abs().max()) == 0.0
    TimmBackbone("convnext_atto", in_chans=3)  # architectures without the option are built as before
