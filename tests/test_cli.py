"""The command line, through click's runner (the same code path as the console script)."""

import json

import numpy as np
import pytest
from astropy.table import Table
from click.testing import CliRunner

import galzoo_fm
import galzoo_fm.plugins
from galzoo_fm.cli import cli
from galzoo_fm.embedding.images import read_image_set


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_version_and_help():
    assert run("--version").output.strip() == f"galzoo-fm, version {galzoo_fm.__version__}"
    out = run("--help").output
    for command in ("plugins", "backbones", "embed-images"):
        assert command in out


def test_plugins_lists_builtin_and_example_plugin():
    out = run("plugins").output
    assert "galzoo_fm.models.backbones.timm_backbones  [builtin" in out
    assert "example  [entry point; galzoo-fm-example 0.1.0; galzoo_fm_example.plugin]" in out
    assert "backbones (1): example_smallcnn" in out
    data = json.loads(run("plugins", "--json").output)
    example = next(p for p in data if p["name"] == "example")
    assert example["registered"] == {"backbones": ["example_smallcnn"], "losses": ["example_vic"]}
    assert example["error"] is None


def test_example_plugin_command():
    assert run("example-hello", "--name", "M31").output.strip() == "hello, M31, from galzoo-fm-example"


def test_backbones_pattern():
    lines = run("backbones", "convnext_a*").output.splitlines()
    assert [line.split()[0] for line in lines] == galzoo_fm.list_backbones("convnext_a*")
    assert run("backbones", "nomatch*").output.strip() == "no backbones matching 'nomatch*'"
    data = json.loads(run("backbones", "example_*", "--json").output)
    description = "small CNN from the example plugin"
    assert data == [{"name": "example_smallcnn", "plugin": "example", "description": description}]


def test_embed_images_demo_matches_python_api(tmp_path):
    out = tmp_path / "demo.ecsv"
    result = run("embed-images", "-o", str(out), "--batch-size", "7")
    assert result.exit_code == 0
    assert "embedded 24 images into 512-dimensional vectors" in result.output
    table = Table.read(out)
    assert table.colnames == ["id", "ra", "dec", "embedding"]
    assert table["embedding"].shape == (24, 512)
    assert table.meta["BACKBONE"] == "resnet18" and table.meta["BANDS"] == "g,r,z"
    iset = read_image_set()
    expected = galzoo_fm.Encoder("resnet18", in_chans=3, image_size=64, seed=0).embed(iset.images)
    np.testing.assert_allclose(np.asarray(table["embedding"]), expected, rtol=1e-6, atol=1e-7)
    assert list(table["id"]) == list(iset.objects["id"])


def test_embed_images_with_saved_model(tmp_path):
    images = np.random.default_rng(0).normal(size=(5, 2, 32, 32)).astype(np.float32)
    np.save(tmp_path / "cube.npy", images)
    enc = galzoo_fm.Encoder("example_smallcnn", in_chans=2, image_size=32, seed=1)
    enc.save_pretrained(tmp_path / "model")
    out = tmp_path / "emb.fits"
    result = run("embed-images", str(tmp_path / "cube.npy"), "--model", str(tmp_path / "model"), "-o", str(out))
    assert result.exit_code == 0, result.output
    table = Table.read(out)
    assert list(table["id"]) == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(np.asarray(table["embedding"]), enc.embed(images), rtol=1e-6)
    assert table.meta["MODELSHA"] != "none"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "out.txt"], "cannot tell the table format of 'out.txt'"),
        (["missing.fits"], "image file missing.fits does not exist"),
        (["--backbone", "resnet_18"], "unknown backbone 'resnet_18'"),
        (["--model", "no_such_folder"], "no such checkpoint folder no_such_folder"),
    ],
)
def test_embed_images_errors(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["embed-images", *args])
    assert result.exit_code == 1
    assert message in result.output


def test_embed_images_refuses_to_overwrite(tmp_path):
    out = tmp_path / "e.ecsv"
    out.write_text("precious")
    result = CliRunner().invoke(cli, ["embed-images", "-o", str(out)])
    assert result.exit_code == 1 and "exists; pass --overwrite to replace it" in result.output
    assert "overwrite=True" not in result.output
    assert out.read_text() == "precious"
    assert run("embed-images", "-o", str(out), "--overwrite").exit_code == 0
    assert len(Table.read(out)) == 24


def test_embed_images_runs_the_recorded_preprocessing(tmp_path):
    """An encoder with recorded preprocessing gets the raw FITS cube preprocessed (bands and pixel scale from
    the cube's header), exactly as the documented two-step Python path does."""
    from galzoo_fm.preprocess import Preprocessor

    iset = read_image_set()
    pre = Preprocessor(["g", "r", "z"], survey="legacy", image_size=32, pixel_scale=0.4)
    enc = galzoo_fm.Encoder("example_smallcnn", in_chans=3, image_size=32, seed=2, preprocessing=pre)
    enc.save_pretrained(tmp_path / "model")
    out = tmp_path / "emb.fits"
    result = run("embed-images", "--model", str(tmp_path / "model"), "-o", str(out))
    assert result.exit_code == 0, result.output
    table = Table.read(out)
    by_hand = enc.embed(pre(iset.images, bands=iset.bands, pixel_scale=0.262).images)
    np.testing.assert_allclose(np.asarray(table["embedding"]), by_hand, rtol=1e-5, atol=1e-6)
    assert table.meta["PREPROC"] == "checkpoint" and (np.asarray(table["flags"]) == 0).all()
    raw = run("embed-images", "--model", str(tmp_path / "model"), "--no-preprocess", "-o", str(out), "--overwrite")
    assert raw.exit_code == 0, raw.output
    assert "flags" not in Table.read(out).colnames


# ------------------------------------------------------------------ start-up, Ctrl-C
def _python(code, **kwargs):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "GALZOO_FM_LOAD_PLUGINS"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          **kwargs)


@pytest.mark.parametrize("option", ["--help", "--version"])
def test_help_and_version_import_neither_torch_nor_timm(option):
    """`galzoo-fm --help` lists every command, the example plugin's included, without importing torch or timm
    (which take seconds): importing the command line and loading the plugins stay light."""
    code = f"""
import sys
import galzoo_fm.cli
assert "torch" not in sys.modules and "timm" not in sys.modules, "import galzoo_fm.cli"
rc = galzoo_fm.cli.cli.main([{option!r}], prog_name="galzoo-fm", standalone_mode=False)
print("heavy:", sorted(m for m in ("torch", "timm") if m in sys.modules))
"""
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "heavy: []", proc.stdout
    if option == "--help":
        assert "example-hello" in proc.stdout and "embed-images" in proc.stdout


def test_a_built_in_command_loads_no_plugin_and_a_plugin_command_loads_them():
    """`galzoo-fm fetch --help` (any built-in command) looks up its command without loading the plugins; a name
    that no built-in command has (the example plugin's) loads them and runs."""
    code = """
import galzoo_fm.cli, galzoo_fm.plugins
galzoo_fm.cli.cli.main(["fetch", "--help"], prog_name="galzoo-fm", standalone_mode=False)
print("plugins loaded:", galzoo_fm.plugins._state is not None)
galzoo_fm.cli.cli.main(["example-hello", "--name", "M31"], prog_name="galzoo-fm", standalone_mode=False)
print("plugins loaded:", galzoo_fm.plugins._state is not None)
"""
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert "Usage: galzoo-fm fetch" in proc.stdout
    assert lines[-3:] == ["plugins loaded: False", "hello, M31, from galzoo-fm-example", "plugins loaded: True"]


def test_verbose_logs_info_of_the_package_on_stderr(monkeypatch):
    import logging

    import galzoo_fm.surveys.describe

    def describe(*args, **kwargs):
        logging.getLogger("galzoo_fm.surveys.describe").info("listing %d surveys", 7)
        logging.getLogger("galzoo_fm.surveys.describe").warning("one survey is slow")
        logging.getLogger("elsewhere").warning("not ours")
        return "listing"

    monkeypatch.setattr(galzoo_fm.surveys.describe, "describe_surveys", describe)
    quiet = CliRunner().invoke(cli, ["surveys"])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout == "listing\n"
    assert quiet.stderr == "WARNING galzoo_fm.surveys.describe: one survey is slow\n"
    for flag in ("-v", "--verbose"):
        loud = CliRunner().invoke(cli, [flag, "surveys"])
        assert loud.exit_code == 0, loud.output
        assert loud.stdout == "listing\n"
        assert loud.stderr == ("INFO galzoo_fm.surveys.describe: listing 7 surveys\n"
                               "WARNING galzoo_fm.surveys.describe: one survey is slow\n")
    handlers = [h for h in logging.getLogger("galzoo_fm").handlers if type(h).__name__ == "_StderrHandler"]
    assert len(handlers) == 1  # configured once, however many invocations


def test_ctrl_c_while_the_command_modules_import_is_one_line():
    """A real SIGINT delivered while `galzoo_fm.cli` is being imported by the console script's entry point."""
    code = """
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # also when pytest runs as a background job

class SigintOnImport:
    def find_spec(self, name, path=None, target=None):
        if name == "galzoo_fm.cli":
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        return None

sys.meta_path.insert(0, SigintOnImport())
sys.argv = ["galzoo-fm", "--help"]
from galzoo_fm.__main__ import main
main()
"""
    proc = _python(code)
    assert proc.returncode == 130, (proc.returncode, proc.stderr)
    assert proc.stderr == "interrupted\n"
    assert "Traceback" not in proc.stdout + proc.stderr


def test_ctrl_c_during_a_command_or_plugin_loading_is_one_line(monkeypatch):
    import galzoo_fm.surveys.describe

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(galzoo_fm.surveys.describe, "describe_surveys", interrupt)
    result = CliRunner().invoke(cli, ["surveys"])
    assert result.exit_code == 130, result.output
    assert result.output == "interrupted\n"
    assert result.exc_info[0] is SystemExit  # not a KeyboardInterrupt escaping with a traceback
    # while the plugins' commands are being added (the first look-up of any command)
    import galzoo_fm.plugins

    monkeypatch.setattr(cli, "_plugins_added", False)
    monkeypatch.setattr(galzoo_fm.plugins, "add_plugin_commands", interrupt)
    result = CliRunner().invoke(cli, ["--help"])
    assert (result.exit_code, result.output) == (130, "interrupted\n")


# ------------------------------------------------------------------ messages
def test_cli_error_words_output_exists_and_unknown_names_for_the_command_line():
    from galzoo_fm._utils.checks import OutputExistsError
    from galzoo_fm.cli._errors import cli_error
    from galzoo_fm.registry import Registry

    direct = cli_error(OutputExistsError("out.fits", "embed again"))
    assert direct.message == "out.fits exists; pass --overwrite to embed again"
    try:  # wrapped by a library function that adds context
        try:
            Registry("loss", "losses", "galzoo-fm losses").entry("byl")
        except ValueError as exc:
            raise ValueError(f"loss.name: {exc}") from None
    except ValueError as exc:
        wrapped = cli_error(exc)
    assert wrapped.message == "loss.name: unknown loss 'byl' (0 losses registered; list them with `galzoo-fm losses`)"
    assert cli_error(FileExistsError("plain")).message == "plain"


def test_existing_output_caught_nowhere_else_still_says_overwrite(monkeypatch):
    import galzoo_fm.surveys.describe
    from galzoo_fm._utils.checks import OutputExistsError

    def exists(*args, **kwargs):
        raise OutputExistsError("x.fits")

    monkeypatch.setattr(galzoo_fm.surveys.describe, "describe_surveys", exists)
    result = CliRunner().invoke(cli, ["surveys"])
    assert result.exit_code == 1
    assert result.output == "Error: x.fits exists; pass --overwrite to replace it\n"


CATALOG = "examples/data/sim_catalog.fits"


def _catalog():
    from pathlib import Path

    return str(Path(__file__).resolve().parents[1] / CATALOG)


@pytest.mark.parametrize("command", ["fetch", "embed"])
def test_unknown_survey_suggests_names_and_the_listing_command(command, tmp_path):
    out = tmp_path / ("store" if command == "fetch" else "emb.fits")
    args = [command, _catalog(), "--survey", "legcy", "--out", str(out)]
    result = CliRunner().invoke(cli, args + (["--size", "32"] if command == "fetch" else []))
    assert result.exit_code == 1
    assert "unknown survey 'legcy'; did you mean 'legacy'?" in result.output
    assert "list them with `galzoo-fm surveys`" in result.output and "list_surveys" not in result.output
    assert not out.exists()  # no empty store folder left behind


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["sed=0"], "survey 'synthetic' has no option 'sed' (did you mean 'seed'?); its options are: seed, n,"),
        (["seed=1", "colour=x", "zz=1"], "survey 'synthetic' has no options 'colour' (did you mean 'columns'?), 'zz';"),
    ],
)
def test_unknown_survey_option_names_only_the_users_options(options, message, tmp_path):
    args = ["fetch", _catalog(), "--survey", "synthetic", "--size", "32", "--out", str(tmp_path / "s")]
    for option in options:
        args += ["--survey-opt", option]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert message in result.output
    assert "cache_dir" not in result.output  # fetch adds it; the user never passed it
    assert not (tmp_path / "s").exists()


def test_survey_option_names_follow_kwargs_along_the_classes():
    from galzoo_fm.fetch import survey_option_names

    class Base:
        def __init__(self, *, server=None, timeout=60):
            pass

    class Child(Base):
        def __init__(self, layer="a", bands=None, **http):
            super().__init__(**http)

    class Open:
        def __init__(self, path=None, **ignored):
            pass

    def opaque(**options):
        return options

    def closed(a, *, b=1):
        return a

    opaque.target = lambda: Child
    assert survey_option_names(Child) == ["layer", "bands", "server", "timeout"]
    assert survey_option_names(opaque) == ["layer", "bands", "server", "timeout"]  # lazy factory: its class
    assert survey_option_names(Open) == ["path"]  # object takes nothing more
    assert survey_option_names(closed) == ["a", "b"]
    assert survey_option_names(lambda **kw: kw) is None  # cannot tell
    assert "layer" in survey_option_names(galzoo_fm.plugins.get_registry("surveys").entry("legacy").factory)


def test_fetch_progress_bar_is_labelled_and_absent_when_nothing_is_left(tmp_path):
    args = ["fetch", _catalog(), "--survey", "synthetic", "--survey-opt", "n=64", "--size", "16",
            "--out", str(tmp_path / "s"), "--progress", "--workers", "1"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "fetch: 100%" in first.output
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert "cutout/s" not in again.output and "fetch:" not in again.output
    assert "0 rows recorded" in again.output
