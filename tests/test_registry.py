import pytest

from galzoo_fm.registry import DuplicateNameError, Registry, UnknownNameError


def factory(**kwargs):
    return ("built", kwargs)


def test_register_list_and_create():
    reg = Registry("backbone")
    reg.register("convnext_nano", factory, plugin="a", description="d")
    reg.register("convnext_atto", factory, plugin="a")
    reg.register("resnet18", factory, plugin="b")
    assert reg.names() == ["convnext_atto", "convnext_nano", "resnet18"]
    assert reg.names("convnext*") == ["convnext_atto", "convnext_nano"]
    assert reg.names("nothing*") == []
    assert reg.create("resnet18", x=1) == ("built", {"x": 1})
    assert reg.entry("convnext_nano").plugin == "a"
    assert reg.by_plugin("a") == ["convnext_atto", "convnext_nano"]
    assert "resnet18" in reg and len(reg) == 3


def test_duplicate_name_names_both_plugins():
    reg = Registry("loss", "losses")
    reg.register("byol", factory, plugin="first_plugin")
    with pytest.raises(DuplicateNameError, match=r"'byol'.*'first_plugin' and 'second_plugin'"):
        reg.register("byol", factory, plugin="second_plugin")
    assert reg.entry("byol").plugin == "first_plugin"


def test_unknown_name_suggests_close_names():
    reg = Registry("loss", "losses")
    for name in ("byol", "hybrid", "spectral"):
        reg.register(name, factory, plugin="p")
    with pytest.raises(ValueError, match=r"unknown loss 'hybird'; did you mean 'hybrid'.*list_losses\(\)"):
        reg.create("hybird")
    with pytest.raises(ValueError, match="unknown loss 'zzz' \\(3 losses"):
        reg.entry("zzz")


def test_unknown_name_error_words_the_listing_for_the_command_line():
    reg = Registry("survey", "surveys", "galzoo-fm surveys")
    reg.register("legacy", factory, plugin="p")
    with pytest.raises(UnknownNameError) as info:
        reg.entry("legcy")
    exc = info.value
    assert isinstance(exc, ValueError)
    assert (exc.name, exc.kind, exc.suggestions) == ("legcy", "survey", ["legacy"])
    assert str(exc).endswith("list them with galzoo_fm.list_surveys())")
    assert exc.cli_message() == ("unknown survey 'legcy'; did you mean 'legacy'? "
                                 "(1 surveys registered; list them with `galzoo-fm surveys`)")
    # without a listing command the command-line wording falls back to the Python function
    plain = Registry("loss", "losses")
    with pytest.raises(UnknownNameError) as info:
        plain.entry("x")
    assert info.value.cli_message() == str(info.value)


def test_unknown_name_suggests_names_containing_it_or_sharing_a_word():
    reg = Registry("schema")
    for name in ("decals_dr5", "decals_dr8", "gz2", "candels"):
        reg.register(name, factory, plugin="p")
    # difflib alone finds nothing close to these
    with pytest.raises(UnknownNameError) as info:
        reg.entry("gz_decal")
    assert info.value.suggestions == ["decals_dr5", "decals_dr8"]
    with pytest.raises(UnknownNameError) as info:
        reg.entry("dr8")
    assert info.value.suggestions == ["decals_dr8"]
    with pytest.raises(UnknownNameError) as info:
        reg.entry("hubble")
    assert info.value.suggestions == [] and "did you mean" not in str(info.value)


def test_bad_registrations():
    reg = Registry("survey")
    with pytest.raises(TypeError, match="non-callable factory"):
        reg.register("legacy", 42, plugin="p")
    with pytest.raises(TypeError, match="invalid name"):
        reg.register("", factory, plugin="p")


def test_unregister_plugin():
    reg = Registry("schema")
    reg.register("a", factory, plugin="p")
    reg.register("b", factory, plugin="q")
    reg.unregister_plugin("p")
    assert reg.names() == ["b"]
