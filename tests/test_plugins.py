"""The plugin core: hooks, entry-point discovery, isolation of failures, duplicate names."""

import types
import warnings

import click
import pytest
from click.testing import CliRunner

import galzoo_fm
from galzoo_fm import plugins
from galzoo_fm.cli import cli
from galzoo_fm.registry import DuplicateNameError


def _plugin_module(name="throwaway", **hooks):
    mod = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(mod, hook_name, galzoo_fm.hookimpl(fn))
    return mod


def test_builtin_timm_plugin_registers_through_the_hook(fresh_plugins):
    info = {i.name: i for i in plugins.plugin_info()}
    timm_info = info["galzoo_fm.models.backbones.timm_backbones"]
    assert timm_info.source == "builtin" and timm_info.error is None
    assert "resnet18" in timm_info.registered["backbones"]
    assert galzoo_fm.get_backbone("resnet18", in_chans=2).num_features == 512


def test_throwaway_plugin_registers_every_kind(fresh_plugins):
    def register_backbones(register):
        register("throwaway_backbone", lambda **kw: None)

    def register_losses(register):
        register("throwaway_loss", lambda **kw: ("loss", kw))

    def register_surveys(register):
        register("throwaway_survey", lambda **kw: ("survey", kw))

    def register_schemas(register):
        register("throwaway_schema", lambda **kw: ("schema", kw))

    name = plugins.register_plugin(
        _plugin_module(
            register_backbones=register_backbones,
            register_losses=register_losses,
            register_surveys=register_surveys,
            register_schemas=register_schemas,
        )
    )
    try:
        assert galzoo_fm.list_backbones("throwaway*") == ["throwaway_backbone"]
        assert galzoo_fm.list_losses("throwaway*") == ["throwaway_loss"]
        assert galzoo_fm.list_surveys("throwaway*") == ["throwaway_survey"]
        assert galzoo_fm.list_schemas("throwaway*") == ["throwaway_schema"]
        assert galzoo_fm.get_loss("throwaway_loss", w=2) == ("loss", {"w": 2})
        assert galzoo_fm.get_survey("throwaway_survey", layer="x") == ("survey", {"layer": "x"})
        assert galzoo_fm.get_schema("throwaway_schema") == ("schema", {})
        # a factory that does not return a module breaks the backbone contract
        with pytest.raises(TypeError, match="not a torch.nn.Module"):
            galzoo_fm.get_backbone("throwaway_backbone")
    finally:
        plugins.unregister_plugin(name)
    assert galzoo_fm.list_losses("throwaway*") == []


def test_duplicate_name_across_plugins_names_both(fresh_plugins):
    def register_backbones(register):
        register("resnet18", lambda **kw: None)

    with pytest.raises(DuplicateNameError, match=r"'resnet18'.*timm_backbones' and 'imposter'"):
        plugins.register_plugin(_plugin_module(register_backbones=register_backbones), name="imposter")
    # the failed registration was rolled back: the built-in is intact and the imposter is gone
    assert "imposter" not in {i.name for i in plugins.plugin_info()}
    assert galzoo_fm.get_backbone("resnet18").num_features == 512


def test_failing_hook_is_reported_and_does_not_break_others(fresh_plugins):
    def register_losses(register):
        register("half_registered", lambda **kw: None)
        raise RuntimeError("boom in my plugin")

    with pytest.warns(plugins.PluginLoadWarning, match="'broken'.*boom in my plugin"):
        plugins.register_plugin(_plugin_module(register_losses=register_losses), name="broken")
    info = {i.name: i for i in plugins.plugin_info()}
    assert "boom in my plugin" in info["broken"].error
    assert "half_registered" not in galzoo_fm.list_losses()  # its partial registrations are removed
    assert "resnet18" in galzoo_fm.list_backbones()


GOOD_PLUGIN = """
import galzoo_fm

@galzoo_fm.hookimpl
def register_losses(register):
    register("from_entry_point", lambda **kw: "made by an entry point")
"""


def test_entry_point_discovery(fake_distribution):
    fake_distribution("galzoo-fm-fakegood", "fakegood", GOOD_PLUGIN)
    info = {i.name: i for i in plugins.plugin_info()}["fakegood"]
    assert (info.source, info.distribution, info.version) == ("entry point", "galzoo-fm-fakegood", "1.2.3")
    assert info.registered == {"losses": ["from_entry_point"]}
    assert galzoo_fm.get_loss("from_entry_point") == "made by an entry point"


def test_plugin_that_fails_to_import_is_reported(fake_distribution):
    fake_distribution("galzoo-fm-fakegood", "fakegood", GOOD_PLUGIN)
    fake_distribution("galzoo-fm-fakebroken", "fakebroken", "raise ImportError('missing dependency xyz')\n")
    with pytest.warns(plugins.PluginLoadWarning, match="'fakebroken'.*missing dependency xyz"):
        infos = {i.name: i for i in plugins.plugin_info()}
    assert "import failed" in infos["fakebroken"].error
    assert infos["fakegood"].error is None
    assert "from_entry_point" in galzoo_fm.list_losses()
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0
    assert "fakebroken" in result.output and "FAILED: import failed" in result.output


def test_plugin_with_an_unknown_hook_is_reported_and_skipped(fake_distribution):
    fake_distribution("galzoo-fm-fakegood", "fakegood", GOOD_PLUGIN)
    fake_distribution("galzoo-fm-faketypo", "faketypo", """
import galzoo_fm

@galzoo_fm.hookimpl
def register_losses(register):
    register("from_typo_plugin", lambda **kw: None)

@galzoo_fm.hookimpl
def register_loss(register):  # no such hook: a typo of register_losses
    pass
""")
    with pytest.warns(plugins.PluginLoadWarning, match="'faketypo'.*unknown hook.*register_loss"):
        infos = {i.name: i for i in plugins.plugin_info()}
    assert "unknown hook" in infos["faketypo"].error and infos["fakegood"].error is None
    assert "from_entry_point" in galzoo_fm.list_losses()
    assert "from_typo_plugin" not in galzoo_fm.list_losses()  # skipped as a whole


def test_duplicate_between_entry_points(fake_distribution):
    fake_distribution("galzoo-fm-fakegood", "fakegood", GOOD_PLUGIN)
    fake_distribution("galzoo-fm-faketwin", "faketwin", GOOD_PLUGIN)
    with pytest.raises(DuplicateNameError, match="'from_entry_point'.*'fake(good|twin)' and 'fake(good|twin)'"):
        galzoo_fm.list_losses()


def test_load_plugins_environment_variable(fake_distribution, monkeypatch):
    fake_distribution("galzoo-fm-fakegood", "fakegood", GOOD_PLUGIN)
    monkeypatch.setenv("GALZOO_FM_LOAD_PLUGINS", "")
    plugins.reset()
    names = {i.name for i in plugins.plugin_info()}
    assert "fakegood" not in names and "example" not in names
    assert "galzoo_fm.models.backbones.timm_backbones" in names  # built-ins always load
    for selector in ("fakegood", "galzoo-fm-fakegood"):  # entry-point name or distribution name
        monkeypatch.setenv("GALZOO_FM_LOAD_PLUGINS", f"nonexistent, {selector}")
        plugins.reset()
        names = {i.name for i in plugins.plugin_info()}
        assert "fakegood" in names and "example" not in names


def test_register_commands_hook_adds_cli_command(fake_distribution):
    fake_distribution(
        "galzoo-fm-fakecmd",
        "fakecmd",
        """
        import click
        import galzoo_fm

        @galzoo_fm.hookimpl
        def register_commands(cli):
            @cli.command(name="fake-cmd")
            @click.argument("x", type=int)
            def fake_cmd(x):
                click.echo(f"twice {2 * x}")
        """,
    )
    group = click.Group(name="test")
    plugins.add_plugin_commands(group)
    result = CliRunner().invoke(group, ["fake-cmd", "21"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "twice 42"


def test_failing_register_commands_is_isolated(fake_distribution):
    fake_distribution(
        "galzoo-fm-fakecmdbad",
        "fakecmdbad",
        """
        import galzoo_fm

        @galzoo_fm.hookimpl
        def register_commands(cli):
            raise KeyError("cmd failure")
        """,
    )
    group = click.Group(name="test")
    with pytest.warns(plugins.PluginLoadWarning, match="register_commands raised"):
        plugins.add_plugin_commands(group)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "resnet18" in galzoo_fm.list_backbones()


def test_plugin_command_does_not_replace_an_existing_command(fake_distribution):
    fake_distribution(
        "galzoo-fm-fakeshadow",
        "fakeshadow",
        """
        import click
        import galzoo_fm

        @galzoo_fm.hookimpl
        def register_commands(cli):
            @cli.command(name="fetch")
            def fetch():
                click.echo("the plugin's fetch")

            @cli.command(name="shadow-extra")
            def extra():
                click.echo("extra")
        """,
    )
    group = click.Group(name="test")

    @group.command(name="fetch")
    def fetch():
        click.echo("the built-in fetch")

    with pytest.warns(plugins.PluginLoadWarning, match="'fakeshadow'.*adds a command 'fetch', which exists already"):
        plugins.add_plugin_commands(group)
    assert CliRunner().invoke(group, ["fetch"]).output == "the built-in fetch\n"
    assert CliRunner().invoke(group, ["shadow-extra"]).output == "extra\n"


def test_unknown_registry_kind():
    with pytest.raises(ValueError, match="unknown registry kind 'models'"):
        plugins.get_registry("models")


def test_failed_plugin_is_skipped_in_every_kind_whichever_is_filled_first(fresh_plugins):
    def register_backbones(register):
        register("half_plugin_backbone", lambda **kw: None)

    def register_surveys(register):
        raise RuntimeError("surveys broken")

    with pytest.warns(plugins.PluginLoadWarning, match="'half'.*surveys broken"):
        plugins.register_plugin(
            _plugin_module(register_backbones=register_backbones, register_surveys=register_surveys), name="half")
    # backbones were filled before surveys, yet the failed plugin's backbone is gone too
    assert "half_plugin_backbone" not in galzoo_fm.list_backbones()
    assert {i.name: i for i in plugins.plugin_info()}["half"].registered == {}


def test_registries_are_filled_one_kind_at_a_time(fresh_plugins):
    calls = []

    def register_backbones(register):
        calls.append("backbones")

    def register_surveys(register):
        calls.append("surveys")

    state = plugins._get_state()
    state.pm.register(_plugin_module(register_backbones=register_backbones, register_surveys=register_surveys),
                      name="spy")
    state.infos["spy"] = plugins.PluginInfo("spy", "registered", "spy")
    galzoo_fm.list_surveys()
    assert calls == ["surveys"]  # listing surveys does not run the backbone hooks (timm, torch)
    galzoo_fm.list_backbones()
    galzoo_fm.list_surveys()
    assert calls == ["surveys", "backbones"]


def test_builtin_losses_declare_the_metadata_of_their_classes(fresh_plugins):
    import importlib

    from galzoo_fm.losses import Objective, objective_metadata
    from galzoo_fm.losses.builtin import _BUILTIN

    registry = plugins.get_registry("losses")
    for name, (module, cls_name, *_rest) in _BUILTIN.items():
        cls = getattr(importlib.import_module(f"galzoo_fm.losses.{module}"), cls_name)
        assert issubclass(cls, Objective)
        meta = registry.entry(name).metadata
        assert {k: meta[k] for k in objective_metadata(cls)} == objective_metadata(cls), name


def test_plugin_discovery_and_registries_import_neither_torch_nor_timm():
    """Loading every plugin (the built-ins and the installed example plugin), their commands, and the loss,
    survey, schema and dataset registries must stay light: only building a model needs torch."""
    import subprocess
    import sys

    code = """
import sys, click
import galzoo_fm
from galzoo_fm import plugins
infos = plugins._get_state().infos
assert "example" in infos and infos["example"].error is None, infos
plugins.add_plugin_commands(click.Group())
print(galzoo_fm.list_losses(), galzoo_fm.list_surveys(), galzoo_fm.list_schemas(), galzoo_fm.list_datasets())
assert plugins.get_registry("losses").entry("hybrid").metadata["has_ema_target"] is True
import galzoo_fm.losses, galzoo_fm.models.backbones, galzoo_fm.datasets  # the package namespaces are lazy
print(sorted(m for m in ("torch", "timm") if m in sys.modules))
"""
    env = {k: v for k, v in __import__("os").environ.items() if k != "GALZOO_FM_LOAD_PLUGINS"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "example_vic" in proc.stdout and "'synthetic'" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout


def test_lazy_package_namespaces_resolve_every_public_name():
    import galzoo_fm.datasets
    import galzoo_fm.losses
    import galzoo_fm.models.backbones

    for module in (galzoo_fm.models.backbones, galzoo_fm.datasets, galzoo_fm.losses):
        assert set(module._WHERE) == set(module.__all__)
        for name in module.__all__:
            assert getattr(module, name) is not None
        assert set(module.__all__) <= set(dir(module))
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            module.nope  # noqa: B018
    from galzoo_fm.models.backbones.timm_backbones import TimmBackbone

    assert TimmBackbone is galzoo_fm.models.backbones.TimmBackbone
