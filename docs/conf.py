# Sphinx configuration for galzoo_fm. Built with warnings as errors (tox -e build_docs, .ci/run).
# No intersphinx: the docs must build on machines without network access.
import datetime
import importlib.metadata

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
]

templates_path = []
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"

# numpydoc + automodapi, as in astropy-affiliated packages
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
automodapi_toctreedirnm = "api"
automodsumm_inherited_members = False
autodoc_typehints = "none"
nitpicky = False

html_theme = "pydata_sphinx_theme"
html_title = f"galzoo_fm {release}"
html_theme_options = {"navigation_with_keys": False}
html_static_path = []
