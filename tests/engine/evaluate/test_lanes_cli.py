"""`--lane key=value,…` and `--lanes FILE`: the quoting rule of engine/evaluate/lanes_cli.py."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from engine.compare.lanes import LaneSpec
from engine.evaluate.lanes_cli import lanes_from_file, parse_lane, parse_lanes


def picked(provider, model, mode):
    """The CLI's defaults, as `engine.cli.pick_provider` gives them: `local` is a kind whose
    provider is named "Local model"."""
    name = "Local model" if provider == "local" else provider
    return SimpleNamespace(name=name), model or "default-model", mode or "json_schema"


def test_a_plain_lane_takes_the_provider_s_defaults():
    lane = parse_lane("schema=Invoice@3,provider=local", pick=picked)
    assert lane == LaneSpec("A", "A · Invoice v3 · default-model", "Invoice", "3",
                            "Local model", "default-model", "json_schema", "auto")


def test_every_key_and_spaces_around_values():
    lane = parse_lane("schema = Purchase Order , provider=My vLLM, model=org/qwen@rev2,"
                      "mode=json_object,chunking=always,label=baseline", lane="B", pick=picked)
    assert lane == LaneSpec("B", "baseline", "Purchase Order", None, "My vLLM", "org/qwen@rev2",
                            "json_object", "always")


@pytest.mark.parametrize(("text", "schema", "version"), [
    # the version is an unquoted @ and a whole number after the (quoted) name
    ('schema="Acme, Inc@v2"@3,provider=local', "Acme, Inc@v2", "3"),
    ('schema="Acme, Inc@v2",provider=local', "Acme, Inc@v2", None),
    ('schema="Name@3",provider=local', "Name@3", None),
    ('schema="a=b, c"@12,provider=local', "a=b, c", "12"),
    ('schema="say \\"hi\\""@1,provider=local', 'say "hi"', "1"),
    ('schema=Invoice,provider=local', "Invoice", None),
])
def test_a_quoted_schema_name_keeps_its_commas_equals_and_ats(text, schema, version):
    lane = parse_lane(text, pick=picked)
    assert (lane.schema_name, lane.schema_version) == (schema, version)


def test_a_quoted_label_and_provider():
    lane = parse_lane('schema=Invoice,provider="Acme, EU",label="v3, chunked = yes"',
                      pick=picked)
    assert (lane.provider, lane.label) == ("Acme, EU", "v3, chunked = yes")


def test_without_pick_model_and_mode_are_needed():
    lane = parse_lane("schema=Invoice,provider=local,model=m,mode=tools")
    assert (lane.provider, lane.model, lane.mode) == ("local", "m", "tools")
    with pytest.raises(ValueError, match="needs model= and mode="):
        parse_lane("schema=Invoice,provider=local")


@pytest.mark.parametrize(("text", "said"), [
    ("provider=local", "needs schema="),
    ("schema=Invoice", "needs provider="),
    ("model=x", "needs schema= and provider="),
    ("schema=Invoice,provider=local,colour=red", "Unknown key 'colour'"),
    ("schema=Invoice,provider=local,schema=Other", "schema= is given twice"),
    ("schema=Invoice,provider=local,label=", "label= has no value"),
    ("schema=Invoice,label=,provider=local", "label= has no value"),
    ("schema=Invoice,provider=local,label=a=b", "label= has no value"),
    ("schema=Invoice,provider=local,label==b", "An unquoted '=' after label="),
    ("schema=Acme, Inc,provider=local", "Unknown key 'Inc'"),
    ("schema=Invoice@v3,provider=local", "version .* is a whole number"),
    ('schema="Invoice,provider=local', "cannot be read: no closing quotation"),
    ("schema=Invoice,provider=local,chunking=sometimes", "chunking= is one of auto, always"),
    ("schema,provider=local", "schema needs a value"),
])
def test_bad_lanes_are_one_clear_message(text, said):
    with pytest.raises(ValueError, match=said):
        parse_lane(text, pick=picked)


def test_several_lanes_are_named_a_b_and_checked():
    lanes = parse_lanes(["schema=Invoice,provider=local", "schema=Invoice@2,provider=local"],
                        pick=picked)
    assert [(lane.lane, lane.label) for lane in lanes] == [
        ("A", "A · Invoice · default-model"), ("B", "B · Invoice v2 · default-model")]
    with pytest.raises(ValueError, match="1 to 4 lanes"):
        parse_lanes(["schema=I,provider=local"] * 5, pick=picked)


def test_lanes_from_compare_s_json(tmp_path):
    lanes = [LaneSpec("A", "A · Invoice v2 · m", "Invoice", "2", "local", "m", "json_schema"),
             LaneSpec("B", "B · chunked", "Invoice", "2", "local", "m", "json_schema",
                      "always")]
    listed = tmp_path / "lanes.json"
    listed.write_text(json.dumps([lane.to_json() for lane in lanes]))
    assert lanes_from_file(listed) == lanes
    preset = tmp_path / "preset.json"
    preset.write_text(json.dumps({"name": "p", "lanes": [lanes[0].to_json()]}))
    assert lanes_from_file(preset) == lanes[:1]
    export = tmp_path / "comparison.jsonl"
    export.write_text(json.dumps({"comparison": {"lanes": [lane.to_json() for lane in lanes]}})
                      + "\n" + json.dumps({"id": "run"}) + "\n")
    assert lanes_from_file(export) == lanes


@pytest.mark.parametrize(("content", "said"), [
    ("not json", "is not JSON"),
    ('{"name": "p"}', "holds no lanes"),
    ("[]", "1 to 4 lanes"),
    ('[{"lane": "A"}]', "'label' must be text"),
])
def test_a_bad_lanes_file_is_one_clear_message(tmp_path, content, said):
    path = tmp_path / "lanes.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=said):
        lanes_from_file(path)
    with pytest.raises(ValueError, match="cannot be read"):
        lanes_from_file(tmp_path / "missing.json")
