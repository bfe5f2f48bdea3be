# Sphinx configuration for galzoo_fm. Built with warnings as errors (tox -e build_docs, .ci/run).
# No intersphinx: the docs must build on machines without network access.
import datetime
import importlib.metadata
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _gallery  # noqa: E402  (sets $GALZOO_FM_FIGURES before any example runs)

project = "galzoo_fm"
author = "galzoo_fm developers"
copyright = f"{datetime.date.today().year}, {author}"
try:
    release = importlib.metadata.version("galzoo-fm")
except importlib.metadata.PackageNotFoundError:
    release = "unknown"
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx.ext.doctest",
    "numpydoc",
    "sphinx_automodapi.automodapi",
    "sphinx_automodapi.smart_resolver",
    "sphinx_click",
    "sphinx_gallery.gen_gallery",
]

# the gallery: examples/plot_*.py run in the build (about 25 s on one CPU core) and show the figures they
# write; plot_low_label_curve.py pretrains an encoder for minutes, so it is shown but not run (its figure
# in docs/evaluation.rst is static), and the make_*.py data scripts are shown as code
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_(simulated_galaxies|preprocessing|embedding_tutorial)\.py$",
    "ignore_pattern": r"(__init__|/build/|/plugins/)",
    "image_scrapers": (_gallery.png_scraper,),
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
}

templates_path = []
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb", "auto_examples/*.py"]
root_doc = "index"

# numpydoc + automodapi, as in astropy-affiliated packages
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
automodapi_toctreedirnm = "api"
automodsumm_inherited_members = False
autodoc_typehints = "none"
# every cross-reference must resolve. Without intersphinx (the docs build offline) the names of other
# packages cannot, so those alone are let through; a reference to a galzoo_fm name must find its page.
nitpicky = True
# the gallery's configuration holds its image scraper, a function: it is rebuilt at each run, never cached
suppress_warnings = ["config.cache"]
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|torch|astropy|photutils|scipy|skimage|timm|pluggy|click|matplotlib|pyarrow|h5py|faiss"
               r"|safetensors|huggingface_hub|requests|tqdm|galsim|reproject|astroquery|PIL|pandas|sklearn|tomllib"
               r"|enum|hashlib|json|os|pathlib|typing|collections|dataclasses|concurrent|threading|multiprocessing"
               r"|io|tempfile|warnings|logging|datetime|importlib|contextlib|abc|functools|itertools|re|shutil"
               r"|signal|socket|subprocess|sys|time|random|math|string|urllib|zipfile|tarfile|email)(\..*)?"),
    # pluggy's own docstrings (``hookimpl`` and ``hookspec`` are pluggy markers) name its classes unqualified
    (r"py:.*", r"PluginManager(\..*)?"),
]

html_theme = "pydata_sphinx_theme"
html_title = f"galzoo_fm {release}"
html_theme_options = {"navigation_with_keys": False}
html_static_path = []
