"""Tests of galzoo_fm.schemas: trees, built-in Galaxy Zoo schemas, votes, predictions, files."""

from __future__ import annotations

import itertools
import json
import sys

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

import galzoo_fm
from galzoo_fm import hookimpl
from galzoo_fm.plugins import register_plugin, unregister_plugin
from galzoo_fm.schemas import MissingLabelsWarning, Question, Schema, describe
from galzoo_fm.schemas.builtin import BUILTIN_SCHEMAS

#: (questions, answers) of each built-in schema, as documented in docs/schemas.rst
EXPECTED_SIZES = {
    "decals_dr12": (10, 30),
    "decals_dr5": (10, 34),
    "decals_dr8": (10, 34),
    "decals_all": (30, 98),
    "desi": (10, 34),
    "gz2": (10, 30),
    "hubble": (13, 40),
    "candels": (12, 38),
    "cosmic_dawn": (13, 45),
    "jwst": (13, 45),
    "gz_evo": (65, 206),
    "gz_evo_v1": (78, 251),
}
SUFFIX = {
    "decals_dr12": "-dr12",
    "decals_dr5": "-dr5",
    "decals_dr8": "-dr8",
    "gz2": "-gz2",
    "hubble": "-hubble",
    "candels": "-candels",
    "cosmic_dawn": "-cd",
    "jwst": "-jwst",
}
GZ_EVO_CAMPAIGNS = ["decals_dr12", "decals_dr5", "decals_dr8", "gz2", "candels", "hubble"]

# Galaxy Zoo DECaLS DR5 label columns, in Zoobot / galaxy-datasets order (label_metadata.py)
DR5_COLUMNS = [
    "smooth-or-featured-dr5_smooth", "smooth-or-featured-dr5_featured-or-disk",
    "smooth-or-featured-dr5_artifact",
    "disk-edge-on-dr5_yes", "disk-edge-on-dr5_no",
    "has-spiral-arms-dr5_yes", "has-spiral-arms-dr5_no",
    "bar-dr5_strong", "bar-dr5_weak", "bar-dr5_no",
    "bulge-size-dr5_dominant", "bulge-size-dr5_large", "bulge-size-dr5_moderate", "bulge-size-dr5_small",
    "bulge-size-dr5_none",
    "how-rounded-dr5_round", "how-rounded-dr5_in-between", "how-rounded-dr5_cigar-shaped",
    "edge-on-bulge-dr5_boxy", "edge-on-bulge-dr5_none", "edge-on-bulge-dr5_rounded",
    "spiral-winding-dr5_tight", "spiral-winding-dr5_medium", "spiral-winding-dr5_loose",
    "spiral-arm-count-dr5_1", "spiral-arm-count-dr5_2", "spiral-arm-count-dr5_3", "spiral-arm-count-dr5_4",
    "spiral-arm-count-dr5_more-than-4", "spiral-arm-count-dr5_cant-tell",
    "merging-dr5_none", "merging-dr5_minor-disturbance", "merging-dr5_major-disturbance",
    "merging-dr5_merger",
]  # fmt: skip

ALL_SCHEMAS = galzoo_fm.list_schemas()


def tiny() -> Schema:
    return Schema(
        [
            Question("shape", ["round", "disk", "junk"]),
            Question("edge", ["yes", "no"], depends_on="shape_disk"),
            Question("bar", ["yes", "no"], depends_on=("edge", "no")),
            Question("merger", ["yes", "no"]),
        ],
        name="tiny",
    )


def hand_asked(schema: Schema, fractions: np.ndarray) -> np.ndarray:
    """P(asked) for one galaxy, walking up the tree by names, in float64."""
    deps = schema.dependencies
    out = []
    for q in schema.questions:
        p, dep = 1.0, deps[q.name]
        while dep is not None:
            p *= float(fractions[schema.label_cols.index(dep)])
            dep = deps[schema.answer(dep).question.name]
        out.append(p)
    return np.array(out)


# -- every registered schema (third-party ones too) ---------------------------------------------------


def test_builtins_registered():
    assert set(BUILTIN_SCHEMAS) == set(EXPECTED_SIZES)
    assert set(EXPECTED_SIZES) <= set(ALL_SCHEMAS)


@pytest.mark.parametrize("name", sorted(EXPECTED_SIZES))
def test_builtin_sizes(name):
    schema = galzoo_fm.get_schema(name)
    assert (schema.n_questions, schema.n_answers) == EXPECTED_SIZES[name]
    assert schema.name == name


@pytest.mark.parametrize("name", ALL_SCHEMAS)
def test_layout(name):
    schema = galzoo_fm.get_schema(name)
    assert isinstance(schema, Schema)
    groups = schema.question_index_groups
    assert len(groups) == schema.n_questions
    assert groups[0][0] == 0 and groups[-1][1] == schema.n_answers
    for (_, end), (start, _) in itertools.pairwise(groups):
        assert end == start
    for q, (start, end) in zip(schema.questions, groups, strict=True):
        assert end - start == q.n_answers >= 2
        assert schema.label_cols[start:end] == [f"{q.name}_{a.name}" for a in q.answers]
    assert [a.index for a in schema.answers] == list(range(schema.n_answers))
    assert len(set(schema.label_cols)) == schema.n_answers
    assert schema.answer_question_index.tolist() == [
        i for i, (s, e) in enumerate(groups) for _ in range(s, e)
    ]


@pytest.mark.parametrize("name", ALL_SCHEMAS)
def test_tree(name):
    schema = galzoo_fm.get_schema(name)
    roots = 0
    for q in schema.questions:
        if q.depends_on is None:
            roots += 1
            assert schema.depth(q) == 0
            continue
        parent = q.depends_on
        assert schema.answer(parent.label_col) is parent  # exists in this schema
        assert parent.question is not q
        assert schema.depth(q) == schema.depth(parent.question) + 1
        if name in BUILTIN_SCHEMAS:
            assert parent.question.index < q.index  # parent precedes child in the outputs
    assert roots >= 1


@pytest.mark.parametrize("name", ALL_SCHEMAS)
def test_dict_and_json_round_trip(name, tmp_path):
    schema = galzoo_fm.get_schema(name)
    again = Schema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert again == schema
    assert again.label_cols == schema.label_cols
    assert again.dependencies == schema.dependencies
    path = tmp_path / f"{name}.json"
    schema.to_file(path)
    assert Schema.from_file(path) == schema


@pytest.mark.parametrize("name", ALL_SCHEMAS)
def test_predictions(name):
    schema = galzoo_fm.get_schema(name)
    rng = np.random.default_rng(0)
    alpha = 1 + 100 * rng.random((3, schema.n_answers))
    fractions = schema.expected_fractions(alpha)
    assert fractions.shape == alpha.shape
    for start, end in schema.question_index_groups:
        np.testing.assert_allclose(fractions[:, start:end].sum(axis=1), 1.0, rtol=1e-12)
        np.testing.assert_allclose(
            fractions[:, start:end], alpha[:, start:end] / alpha[:, start:end].sum(axis=1, keepdims=True)
        )
    asked = schema.asked_probability(alpha)
    assert asked.shape == (3, schema.n_questions)
    for row in range(3):
        np.testing.assert_allclose(asked[row], hand_asked(schema, fractions[row]), rtol=1e-12, atol=0)
    roots = [q.index for q in schema.questions if q.depends_on is None]
    assert np.all(asked[:, roots] == 1.0)
    best = schema.most_likely_answers(alpha)
    assert best.shape == (3, schema.n_questions)
    for q in schema.questions:
        assert np.array_equal(best[:, q.index], q.start + np.argmax(alpha[:, q.slice], axis=1))
    joint = schema.answer_probability(alpha)
    np.testing.assert_allclose(joint, fractions * asked[:, schema.answer_question_index])


@pytest.mark.parametrize("name", ALL_SCHEMAS)
def test_votes_identity_and_describe(name):
    schema = galzoo_fm.get_schema(name)
    counts = np.arange(2 * schema.n_answers).reshape(2, schema.n_answers)
    table = Table(counts, names=schema.label_cols)
    assert np.array_equal(schema.votes_from_table(table), counts)
    text = describe(name)
    assert all(q.name in text for q in schema.questions)
    assert f"{schema.n_answers} answers" in text


# -- the built-in trees --------------------------------------------------------------------------------


def test_dr5_real_names():
    schema = galzoo_fm.get_schema("decals_dr5")
    assert schema.label_cols == DR5_COLUMNS
    assert schema.question("disk-edge-on-dr5").dependency == "smooth-or-featured-dr5_featured-or-disk"
    assert schema.question("spiral-winding-dr5").dependency == "has-spiral-arms-dr5_yes"
    assert schema.question("merging-dr5").depends_on is None
    assert schema.question_index_groups[:3] == [(0, 3), (3, 5), (5, 7)]


def test_dr8_is_dr5_renamed():
    dr5, dr8 = galzoo_fm.get_schema("decals_dr5"), galzoo_fm.get_schema("decals_dr8")
    assert [c.replace("-dr5_", "-dr8_") for c in dr5.label_cols] == dr8.label_cols
    desi = galzoo_fm.get_schema("desi")
    assert desi.label_cols[0] == "smooth-or-featured_smooth"
    assert [c.replace("-dr5_", "_") for c in dr5.label_cols] == desi.label_cols


@pytest.mark.parametrize("name", sorted(SUFFIX))
def test_ortho_suffix(name):
    schema = galzoo_fm.get_schema(name)
    assert all(q.name.endswith(SUFFIX[name]) for q in schema.questions)


def test_campaign_specific_answers():
    dr12 = galzoo_fm.get_schema("decals_dr12")
    assert dr12.question("bar-dr12").label_cols == ["bar-dr12_yes", "bar-dr12_no"]
    assert galzoo_fm.get_schema("gz2").question("bulge-size-gz2").dependency == "disk-edge-on-gz2_no"
    cd = galzoo_fm.get_schema("cosmic_dawn")
    assert cd.question("artifact-cd").dependency == "problem-cd_artifact"
    assert cd.question("problem-cd").dependency == "smooth-or-featured-cd_problem"
    hubble = galzoo_fm.get_schema("hubble")
    assert hubble.question("clump-count-hubble").dependency == "clumpy-appearance-hubble_yes"
    assert hubble.question("spiral-winding-hubble").dependency == "has-spiral-arms-hubble_yes"


def test_gz_evo_is_union_of_campaigns():
    evo = galzoo_fm.get_schema("gz_evo")
    parts = [galzoo_fm.get_schema(n) for n in GZ_EVO_CAMPAIGNS]
    assert evo.label_cols == [c for p in parts for c in p.label_cols]
    assert evo.n_answers == sum(p.n_answers for p in parts) == 206  # Walmsley et al. 2022 (2206.11927)
    for part in parts:
        for q in part.questions:
            assert evo.question(q.name).dependency == q.dependency
    v1 = galzoo_fm.get_schema("gz_evo_v1")
    assert v1.label_cols == evo.label_cols + galzoo_fm.get_schema("cosmic_dawn").label_cols


def test_gz_evo_votes_from_one_campaign():
    evo = galzoo_fm.get_schema("gz_evo")
    gz2 = galzoo_fm.get_schema("gz2")
    table = Table(np.ones((2, gz2.n_answers), dtype=int), names=gz2.label_cols)
    votes = evo.votes_from_table(table)
    start = evo.index(gz2.label_cols[0])
    assert votes[:, start : start + gz2.n_answers].sum() == 2 * gz2.n_answers
    assert votes.sum() == 2 * gz2.n_answers  # other campaigns: 0 votes


# -- validation and lookups ----------------------------------------------------------------------------


def test_duplicate_question_names():
    with pytest.raises(ValueError, match="duplicate question names: 'a'"):
        Schema([Question("a", ["x", "y"]), Question("a", ["z", "w"])])


def test_duplicate_answer_names():
    with pytest.raises(ValueError, match="question 'a' has duplicate answer names: 'x'"):
        Question("a", ["x", "y", "x"])


def test_label_column_collision():
    with pytest.raises(ValueError, match="label column 'a_b_c' is made by both"):
        Schema([Question("a_b", ["c", "d"]), Question("a", ["b_c", "e"])])


def test_unknown_parent_question():
    with pytest.raises(ValueError, match="unknown question 'shapes'; did you mean 'shape'"):
        Schema([Question("shape", ["round", "disk"]), Question("edge", ["yes", "no"], ("shapes", "disk"))])


def test_unknown_parent_answer():
    with pytest.raises(ValueError, match="unknown answer 'shape_disc'; did you mean 'shape_disk'"):
        Schema([Question("shape", ["round", "disk"]), Question("edge", ["yes", "no"], "shape_disc")])
    with pytest.raises(ValueError, match="question 'shape' has no answer 'disc'"):
        Schema([Question("shape", ["round", "disk"]), Question("edge", ["yes", "no"], ("shape", "disc"))])


def test_cycles():
    with pytest.raises(ValueError, match="dependency cycle: 'a' -> 'b' -> 'a'"):
        Schema([Question("a", ["x", "y"], "b_x"), Question("b", ["x", "y"], "a_x")])
    with pytest.raises(ValueError, match="dependency cycle: 'a' -> 'a'"):
        Schema([Question("a", ["x", "y"], "a_y")])


def test_bad_questions():
    with pytest.raises(ValueError, match="needs at least two answers"):
        Question("a", ["x"])
    with pytest.raises(ValueError, match="starts with '_': give 'smooth'"):
        Question("a", ["_smooth", "x"])
    with pytest.raises(TypeError, match="sequence of names"):
        Question("a", "xy")
    with pytest.raises(TypeError, match="expected Question objects"):
        Schema(["a"])
    with pytest.raises(ValueError, match="has no questions"):
        Schema([])


def test_lookups_suggest_close_names():
    schema = galzoo_fm.get_schema("decals_dr5")
    with pytest.raises(ValueError, match="did you mean 'smooth-or-featured-dr5'"):
        schema.question("smooth-or-featured")
    with pytest.raises(ValueError, match="did you mean 'bar-dr5_strong'"):
        schema.answer("bar-dr5_stronk")
    with pytest.raises(ValueError, match="unknown schema 'decals_dr6'; did you mean"):
        galzoo_fm.get_schema("decals_dr6")
    assert schema.index("merging-dr5_merger") == 33
    assert "bar-dr5" in schema and "bar-dr5_weak" in schema and "bar" not in schema
    assert [q.name for q in schema.children("disk-edge-on-dr5_yes")] == ["edge-on-bulge-dr5"]


def test_question_reused_in_two_schemas():
    q = Question("a", ["x", "y"])
    s1 = Schema([q])
    s2 = Schema([Question("b", ["u", "v"]), q])
    assert s1.question("a").start == 0 and s2.question("a").start == 2
    assert q.start is None  # the schemas hold copies


def test_from_pairs_zoobot_style():
    schema = Schema.from_pairs(
        {"smooth-or-featured": ["_smooth", "_featured-or-disk"], "bar": ["_yes", "_no"]},
        {"smooth-or-featured": None, "bar": "smooth-or-featured_featured-or-disk", "not-here": None},
    )
    assert schema.label_cols[-1] == "bar_no"
    assert schema.question("bar").dependency == "smooth-or-featured_featured-or-disk"


# -- votes from catalogues -----------------------------------------------------------------------------


def test_votes_missing_masked_nan():
    schema = tiny()
    table = Table(
        {
            "shape_round": MaskedColumn([3, -7, 2], mask=[False, True, False]),  # masked junk is ignored
            "shape_disk": [1.0, np.nan, 4.0],
            "edge_no": [0, 2, 5],
            "other": ["a", "b", "c"],
        }
    )
    votes = schema.votes_from_table(table)
    assert votes.dtype == np.int64
    assert votes.tolist() == [
        [3, 1, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 2, 0, 0, 0, 0],
        [2, 4, 0, 0, 5, 0, 0, 0, 0],
    ]


def test_votes_from_mapping_and_structured_array():
    schema = tiny()
    assert schema.votes_from_table({"bar_yes": [1, 2]})[:, 5].tolist() == [1, 2]
    arr = np.zeros(2, dtype=[("merger_no", "i4"), ("x", "f8")])
    arr["merger_no"] = [4, 5]
    assert schema.votes_from_table(arr)[:, 8].tolist() == [4, 5]


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ([1, -2, 3], r"column 'edge_yes' has a negative vote count in row 1 \(-2.0"),
        ([1.0, 2.0, 2.5], r"column 'edge_yes' has a non-integer vote count in row 2 \(2.5"),
        ([1.0, np.inf, 0.0], r"column 'edge_yes' has an infinite vote count in row 1"),
    ],
)
def test_votes_bad_values(values, match):
    with pytest.raises(ValueError, match=match):
        tiny().votes_from_table(Table({"shape_round": [1, 1, 1], "edge_yes": values}))


def test_votes_bad_types():
    with pytest.raises(TypeError, match="column 'edge_yes' has dtype"):
        tiny().votes_from_table(Table({"edge_yes": ["1", "2"]}))
    with pytest.raises(TypeError, match="cannot find the columns"):
        tiny().votes_from_table([1, 2, 3])
    with pytest.raises(ValueError, match="column 'edge_yes' has shape"):
        tiny().votes_from_table(Table({"edge_yes": np.ones((2, 3))}))


def test_votes_no_label_columns():
    schema = galzoo_fm.get_schema("decals_dr5")
    table = Table({"smooth-or-featured_smooth": [1, 2], "ra": [0.0, 1.0]})
    expected = r"schema 'decals_dr5', e\.g\. 'smooth-or-featured-dr5_smooth'"
    with pytest.warns(MissingLabelsWarning, match=expected) as rec:
        votes = schema.votes_from_table(table)
    assert "the catalogue has 'smooth-or-featured_smooth'" in str(rec[0].message)
    assert votes.shape == (2, 34) and votes.sum() == 0
    with pytest.raises(ValueError, match="none of the 34 label columns"):
        schema.votes_from_table(table, on_missing="raise")


# -- predictions ---------------------------------------------------------------------------------------


def test_asked_probability_by_hand():
    schema = tiny()
    alpha = np.array([[2.0, 6.0, 2.0, 1.0, 3.0, 5.0, 5.0, 1.0, 1.0]])
    f = schema.expected_fractions(alpha)
    np.testing.assert_allclose(f[0], [0.2, 0.6, 0.2, 0.25, 0.75, 0.5, 0.5, 0.5, 0.5], rtol=1e-15)
    asked = schema.asked_probability(alpha)[0]
    # shape (root), edge = P(disk), bar = P(disk) * P(not edge-on), merger (root)
    np.testing.assert_allclose(asked, [1.0, 0.6, 0.6 * 0.75, 1.0], rtol=1e-15)
    assert schema.most_likely_answers(alpha)[0].tolist() == [1, 4, 5, 7]
    np.testing.assert_array_equal(schema.asked_probability(fractions=f), schema.asked_probability(alpha))


def test_vote_fractions():
    schema = tiny()
    f = schema.vote_fractions(np.array([[1, 3, 0, 0, 0, 2, 2, 0, 0]]))[0]
    np.testing.assert_allclose(f[:2], [0.25, 0.75])
    assert np.isnan(f[3:5]).all() and np.isnan(f[7:]).all()


def test_predictions_accept_torch():
    torch = pytest.importorskip("torch")
    schema = galzoo_fm.get_schema("decals_dr5")
    alpha = (1 + 100 * torch.rand(4, schema.n_answers)).requires_grad_()
    f = schema.expected_fractions(alpha.to(torch.bfloat16))
    assert isinstance(f, np.ndarray) and f.dtype == np.float64 and f.shape == (4, 34)
    f64 = schema.expected_fractions(alpha.detach().numpy())
    np.testing.assert_allclose(schema.expected_fractions(alpha), f64)


def test_prediction_errors():
    schema = tiny()
    with pytest.raises(ValueError, match=r"9 answers of schema 'tiny' on the last axis, got shape \(2, 8\)"):
        schema.expected_fractions(np.ones((2, 8)))
    with pytest.raises(ValueError, match=r"positive and finite; got 0\.0 at index \(4,\) \(answer 'edge_no'\)"):
        schema.expected_fractions(np.array([1, 1, 1, 1, 0, 1, 1, 1, 1.0]))
    with pytest.raises(TypeError, match="exactly one of"):
        schema.asked_probability()


# -- files ---------------------------------------------------------------------------------------------


YAML_TEXT = """\
name: my-survey
description: two questions
questions:
  - name: arms-mine
    answers: [yes, no]
  - name: arm-count-mine
    answers: [1, 2, more]
    depends_on: arms-mine_yes
    description: How many arms?
"""


def test_yaml_file(tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "mine.yaml"
    path.write_text(YAML_TEXT)
    schema = Schema.from_file(path)
    assert schema.name == "my-survey"
    assert schema.label_cols == ["arms-mine_yes", "arms-mine_no", "arm-count-mine_1", "arm-count-mine_2",
                                 "arm-count-mine_more"]  # fmt: skip
    assert schema.question("arm-count-mine").description == "How many arms?"
    out = tmp_path / "again.yml"
    schema.to_file(out)
    assert Schema.from_file(out) == schema


def test_file_errors(tmp_path, monkeypatch):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"questions": [{"name": "a", "answers": ["x", "y"], "depend_on": "b_x"}]}))
    with pytest.raises(ValueError, match=r"bad\.json: unknown key 'depend_on' in question 0; did you mean"):
        Schema.from_file(bad)
    cyc = tmp_path / "cyc.json"
    cyc.write_text(json.dumps({"questions": [{"name": "a", "answers": ["x", "y"], "depends_on": "a_x"}]}))
    with pytest.raises(ValueError, match=r"cyc\.json: schema 'cyc' has a dependency cycle"):
        Schema.from_file(cyc)
    with pytest.raises(ValueError, match=r"unknown schema file type '\.txt'"):
        Schema.from_file(tmp_path / "s.txt")
    monkeypatch.setitem(sys.modules, "yaml", None)  # as if PyYAML were not installed
    path = tmp_path / "s.yaml"
    path.write_text(YAML_TEXT)
    with pytest.raises(ImportError, match=r"needs PyYAML, which is not installed: pip install pyyaml"):
        Schema.from_file(path)


# -- listing and third-party schemas -------------------------------------------------------------------


def test_describe_table():
    text = describe()
    for name, (nq, na) in EXPECTED_SIZES.items():
        line = next(line for line in text.splitlines() if line.split()[0] == name)
        assert line.split()[1:3] == [str(nq), str(na)]
    with pytest.raises(ValueError, match="did you mean 'gz2'"):
        describe("gz3")


class _ThirdParty:
    @hookimpl
    def register_schemas(self, register):
        register("test_rings", lambda: Schema([Question("ring", ["yes", "no"])], name="test_rings"),
                 description="a throwaway schema")  # fmt: skip


@pytest.fixture
def third_party():
    name = register_plugin(_ThirdParty(), name="test-schemas-plugin")
    yield
    unregister_plugin(name)


def test_third_party_schema(third_party):
    assert "test_rings" in galzoo_fm.list_schemas()
    assert galzoo_fm.get_schema("test_rings").label_cols == ["ring_yes", "ring_no"]
    assert "a throwaway schema" in describe()
