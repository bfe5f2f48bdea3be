"""Built-in plugin: the Galaxy Zoo decision trees, and their union GZ-Evo.

Question and answer names are those of the Galaxy Zoo data releases as used by Zoobot and
galaxy-datasets (``galaxy_datasets/shared/label_metadata.py``), so that their catalogues' vote columns
(``{question}_{answer}``) are read as they are. "Ortho" schemas add the campaign to each question name
(``smooth-or-featured-dr5``) so that campaigns with different trees never share a model output.

=================  =============  =========  =======  ==================================================
registered name    suffix         questions  answers  decision tree
=================  =============  =========  =======  ==================================================
``decals_dr12``    ``-dr12``      10         30       GZ DECaLS, campaigns GZD-1 and GZD-2
``decals_dr5``     ``-dr5``       10         34       GZ DECaLS, campaign GZD-5 (Walmsley et al. 2022)
``decals_dr8``     ``-dr8``       10         34       GZ DESI, campaign GZD-8 (same tree as GZD-5)
``decals_all``     all three      30         98       ``decals_dr12`` + ``decals_dr5`` + ``decals_dr8``
``desi``           (none)         10         34       the GZD-5/8 tree without suffix (GZ DESI catalogue)
``gz2``            ``-gz2``       10         30       Galaxy Zoo 2 (Willett et al. 2013)
``hubble``         ``-hubble``    13         40       Galaxy Zoo: Hubble (Willett et al. 2017)
``candels``        ``-candels``   12         38       Galaxy Zoo: CANDELS (Simmons et al. 2017)
``cosmic_dawn``    ``-cd``        13         45       Galaxy Zoo Cosmic Dawn (HSC imaging)
``jwst``           ``-jwst``      13         45       the Cosmic Dawn tree for GZ JWST
``gz_evo``         all            65         206      GZ-Evo as in Walmsley et al. 2022 (arXiv:2206.11927)
``gz_evo_v1``      all            78         251      ``gz_evo`` + ``cosmic_dawn`` (Zoobot's GZ-Evo v1)
=================  =============  =========  =======  ==================================================

GZ2, Hubble and CANDELS leave out some questions of the volunteer tree (GZ2's "odd feature", the
clump-configuration questions of Hubble and CANDELS), as the peer packages do: a question reached from
several answers cannot be written with one parent answer.

Dependencies follow the peer packages, with two corrections from the published trees, which change only
:meth:`~galzoo_fm.schemas.Schema.asked_probability`, never the outputs or the columns:

* GZ2 (Willett et al. 2013, Table 2): bar, spiral-arm and bulge-size questions follow
  ``disk-edge-on-gz2_no`` (the peers have ``smooth-or-featured-gz2_featured-or-disk``);
* Hubble and CANDELS: spiral winding and arm count follow ``has-spiral-arms-*_yes`` (the peers have
  ``disk-edge-on-*_no``).

Questions asked after either of two answers (the merging questions, GZ2's "something odd") are recorded
as always asked.
"""

from __future__ import annotations

from collections.abc import Callable

from galzoo_fm.hookspecs import hookimpl
from galzoo_fm.schemas.base import Question, Schema

__all__ = ["BUILTIN_SCHEMAS", "register_schemas"]

#: One campaign's tree before suffixing: (question, answers, parent (question, answer) or None).
_Tree = tuple[tuple[str, tuple[str, ...], tuple[str, str] | None], ...]

_SOF = "smooth-or-featured"
_YES_NO = ("yes", "no")

# Galaxy Zoo DECaLS GZD-5 (and GZD-8, and GZ DESI): Walmsley et al. 2022, MNRAS 509, 3966
_DECALS_DR5: _Tree = (
    (_SOF, ("smooth", "featured-or-disk", "artifact"), None),
    ("disk-edge-on", _YES_NO, (_SOF, "featured-or-disk")),
    ("has-spiral-arms", _YES_NO, ("disk-edge-on", "no")),
    ("bar", ("strong", "weak", "no"), ("disk-edge-on", "no")),
    ("bulge-size", ("dominant", "large", "moderate", "small", "none"), ("disk-edge-on", "no")),
    ("how-rounded", ("round", "in-between", "cigar-shaped"), (_SOF, "smooth")),
    ("edge-on-bulge", ("boxy", "none", "rounded"), ("disk-edge-on", "yes")),
    ("spiral-winding", ("tight", "medium", "loose"), ("has-spiral-arms", "yes")),
    ("spiral-arm-count", ("1", "2", "3", "4", "more-than-4", "cant-tell"), ("has-spiral-arms", "yes")),
    ("merging", ("none", "minor-disturbance", "major-disturbance", "merger"), None),
)

# GZD-1 and GZD-2: yes/no bar, three bulge sizes, no "can't tell" arm count, other merger answers
_DECALS_DR12: _Tree = (
    (_SOF, ("smooth", "featured-or-disk", "artifact"), None),
    ("disk-edge-on", _YES_NO, (_SOF, "featured-or-disk")),
    ("has-spiral-arms", _YES_NO, ("disk-edge-on", "no")),
    ("bar", _YES_NO, ("disk-edge-on", "no")),
    ("bulge-size", ("dominant", "obvious", "none"), ("disk-edge-on", "no")),
    ("how-rounded", ("completely", "in-between", "cigar-shaped"), (_SOF, "smooth")),
    ("edge-on-bulge", ("boxy", "none", "rounded"), ("disk-edge-on", "yes")),
    ("spiral-winding", ("tight", "medium", "loose"), ("has-spiral-arms", "yes")),
    ("spiral-arm-count", ("1", "2", "3", "4", "more-than-4"), ("has-spiral-arms", "yes")),
    ("merging", ("neither", "tidal-debris", "both", "merger"), None),
)

# Galaxy Zoo 2: Willett et al. 2013, MNRAS 435, 2835
_GZ2: _Tree = (
    (_SOF, ("smooth", "featured-or-disk", "artifact"), None),
    ("disk-edge-on", _YES_NO, (_SOF, "featured-or-disk")),
    ("has-spiral-arms", _YES_NO, ("disk-edge-on", "no")),
    ("bar", _YES_NO, ("disk-edge-on", "no")),
    ("bulge-size", ("dominant", "obvious", "just-noticeable", "no"), ("disk-edge-on", "no")),
    ("something-odd", _YES_NO, None),
    ("how-rounded", ("round", "in-between", "cigar"), (_SOF, "smooth")),
    ("bulge-shape", ("round", "boxy", "no-bulge"), ("disk-edge-on", "yes")),
    ("spiral-winding", ("tight", "medium", "loose"), ("has-spiral-arms", "yes")),
    ("spiral-arm-count", ("1", "2", "3", "4", "more-than-4", "cant-tell"), ("has-spiral-arms", "yes")),
)

# Galaxy Zoo: Hubble: Willett et al. 2017, MNRAS 464, 4176
_HUBBLE: _Tree = (
    (_SOF, ("smooth", "features", "artifact"), None),
    ("how-rounded", ("completely", "in-between", "cigar-shaped"), (_SOF, "smooth")),
    ("clumpy-appearance", _YES_NO, (_SOF, "features")),
    ("clump-count", ("1", "2", "3", "4", "5-plus", "cant-tell"), ("clumpy-appearance", "yes")),
    ("disk-edge-on", _YES_NO, ("clumpy-appearance", "no")),
    ("bulge-shape", ("rounded", "boxy", "none"), ("disk-edge-on", "yes")),
    ("bar", _YES_NO, ("disk-edge-on", "no")),
    ("has-spiral-arms", _YES_NO, ("disk-edge-on", "no")),
    ("spiral-winding", ("tight", "medium", "loose"), ("has-spiral-arms", "yes")),
    ("spiral-arm-count", ("1", "2", "3", "4", "5-plus", "cant-tell"), ("has-spiral-arms", "yes")),
    ("bulge-size", ("none", "just-noticeable", "obvious", "dominant"), ("disk-edge-on", "no")),
    ("galaxy-symmetrical", _YES_NO, ("clumpy-appearance", "yes")),
    ("clumps-embedded-larger-object", _YES_NO, ("clumpy-appearance", "yes")),
)

# Galaxy Zoo: CANDELS: Simmons et al. 2017, MNRAS 464, 4420
_CANDELS: _Tree = (
    (_SOF, ("smooth", "features", "artifact"), None),
    ("how-rounded", ("completely", "in-between", "cigar-shaped"), (_SOF, "smooth")),
    ("clumpy-appearance", _YES_NO, (_SOF, "features")),
    ("clump-count", ("1", "2", "3", "4", "5-plus", "cant-tell"), ("clumpy-appearance", "yes")),
    ("disk-edge-on", _YES_NO, ("clumpy-appearance", "no")),
    ("edge-on-bulge", _YES_NO, ("disk-edge-on", "yes")),
    ("bar", _YES_NO, ("disk-edge-on", "no")),
    ("has-spiral-arms", _YES_NO, ("disk-edge-on", "no")),
    ("spiral-winding", ("tight", "medium", "loose"), ("has-spiral-arms", "yes")),
    ("spiral-arm-count", ("1", "2", "3", "4", "5-plus", "cant-tell"), ("has-spiral-arms", "yes")),
    ("bulge-size", ("none", "obvious", "dominant"), ("disk-edge-on", "no")),
    ("merging", ("merger", "tidal-debris", "both", "neither"), None),
)

# Galaxy Zoo Cosmic Dawn (HSC): the GZD-5 tree with a "problem" branch and a clumps question
_COSMIC_DAWN: _Tree = (
    (_SOF, ("smooth", "featured-or-disk", "problem"), None),
    ("disk-edge-on", _YES_NO, (_SOF, "featured-or-disk")),
    ("has-spiral-arms", _YES_NO, ("disk-edge-on", "no")),
    ("bar", ("strong", "weak", "no"), ("disk-edge-on", "no")),
    ("bulge-size", ("dominant", "large", "moderate", "small", "none"), ("disk-edge-on", "no")),
    ("how-rounded", ("round", "in-between", "cigar-shaped"), (_SOF, "smooth")),
    ("edge-on-bulge", ("boxy", "none", "rounded"), ("disk-edge-on", "yes")),
    ("spiral-winding", ("tight", "medium", "loose"), ("has-spiral-arms", "yes")),
    ("spiral-arm-count", ("1", "2", "3", "4", "more-than-4", "cant-tell"), ("has-spiral-arms", "yes")),
    ("merging", ("none", "minor-disturbance", "major-disturbance", "merger"), None),
    ("clumps", _YES_NO, ("disk-edge-on", "no")),
    ("problem", ("star", "artifact", "zoom"), (_SOF, "problem")),
    (
        "artifact",
        ("satellite", "scattered", "diffraction", "ray", "saturation", "other"),
        ("problem", "artifact"),
    ),
)


def _questions(tree: _Tree, suffix: str) -> list[Question]:
    """The questions of ``tree`` with ``-{suffix}`` added to every question name (none if empty)."""
    tag = f"-{suffix}" if suffix else ""
    return [
        Question(f"{q}{tag}", answers, None if parent is None else (f"{parent[0]}{tag}", parent[1]))
        for q, answers, parent in tree
    ]


_DR5_REF = "Walmsley et al. 2022, MNRAS 509, 3966"
_EVO_REF = "Walmsley et al. 2022, arXiv:2206.11927"

#: ``{registered name: (campaign parts as (tree, suffix), description)}``, in listing order.
_CAMPAIGNS: dict[str, tuple[tuple[tuple[_Tree, str], ...], str]] = {
    "decals_dr12": (((_DECALS_DR12, "dr12"),), f"Galaxy Zoo DECaLS, GZD-1/2 campaigns ({_DR5_REF})"),
    "decals_dr5": (((_DECALS_DR5, "dr5"),), f"Galaxy Zoo DECaLS, GZD-5 campaign ({_DR5_REF})"),
    "decals_dr8": (((_DECALS_DR5, "dr8"),), "Galaxy Zoo DESI, GZD-8 campaign (the GZD-5 tree)"),
    "decals_all": (
        ((_DECALS_DR12, "dr12"), (_DECALS_DR5, "dr5"), (_DECALS_DR5, "dr8")),
        "Galaxy Zoo DECaLS/DESI: GZD-1/2, GZD-5 and GZD-8 campaigns together",
    ),
    "desi": (((_DECALS_DR5, ""),), "GZD-5/8 tree without campaign suffix, as in the GZ DESI catalogue"),
    "gz2": (((_GZ2, "gz2"),), "Galaxy Zoo 2 (Willett et al. 2013, MNRAS 435, 2835)"),
    "hubble": (((_HUBBLE, "hubble"),), "Galaxy Zoo: Hubble (Willett et al. 2017, MNRAS 464, 4176)"),
    "candels": (((_CANDELS, "candels"),), "Galaxy Zoo: CANDELS (Simmons et al. 2017, MNRAS 464, 4420)"),
    "cosmic_dawn": (((_COSMIC_DAWN, "cd"),), "Galaxy Zoo Cosmic Dawn (Hyper Suprime-Cam imaging)"),
    "jwst": (((_COSMIC_DAWN, "jwst"),), "Galaxy Zoo JWST (the Cosmic Dawn tree)"),
    "gz_evo": (
        (
            (_DECALS_DR12, "dr12"),
            (_DECALS_DR5, "dr5"),
            (_DECALS_DR5, "dr8"),
            (_GZ2, "gz2"),
            (_CANDELS, "candels"),
            (_HUBBLE, "hubble"),
        ),
        f"GZ-Evo: GZ DECaLS (DR1/2, DR5, DR8), GZ2, CANDELS and Hubble ({_EVO_REF})",
    ),
    "gz_evo_v1": (
        (
            (_DECALS_DR12, "dr12"),
            (_DECALS_DR5, "dr5"),
            (_DECALS_DR5, "dr8"),
            (_GZ2, "gz2"),
            (_CANDELS, "candels"),
            (_HUBBLE, "hubble"),
            (_COSMIC_DAWN, "cd"),
        ),
        "GZ-Evo v1: gz_evo plus Galaxy Zoo Cosmic Dawn (Zoobot's pretraining schema)",
    ),
}


def _factory(name: str) -> Callable[[], Schema]:
    parts, description = _CAMPAIGNS[name]

    def build() -> Schema:
        questions = [q for tree, suffix in parts for q in _questions(tree, suffix)]
        return Schema(questions, name=name, description=description)

    build.__name__ = build.__qualname__ = f"build_{name}"
    build.__doc__ = f"Build the {name!r} schema: {description}."
    return build


#: Factories of the built-in schemas, ``{name: factory}``; use :func:`galzoo_fm.get_schema` instead.
BUILTIN_SCHEMAS: dict[str, Callable[[], Schema]] = {name: _factory(name) for name in _CAMPAIGNS}


@hookimpl
def register_schemas(register):
    """Register the built-in Galaxy Zoo schemas (see the module docstring for the list)."""
    for name, factory in BUILTIN_SCHEMAS.items():
        parts, description = _CAMPAIGNS[name]
        register(name, factory, description=description, suffixes=tuple(s for _, s in parts))
