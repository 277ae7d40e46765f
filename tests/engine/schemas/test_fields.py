"""engine.schemas.fields and the schema library: field trees, type labels, leaves, samples."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from engine.schemas.fields import (
    GROUP,
    ITEMS,
    SCALAR,
    TABLE,
    field_tree,
    leaf_key,
    leaves,
    schema_rows,
)
from engine.schemas.library import (
    SAMPLE_FOR_SCHEMA,
    SAMPLES,
    SCHEMAS,
    ContactCard,
    MeetingInfo,
    SupportTicket,
)


def test_meeting_info_leaves_match_engine_progress_units() -> None:
    kinds = {n.path: n.kind for n in leaves(MeetingInfo)}
    assert kinds == {"users": TABLE, "date": SCALAR, "location": SCALAR, "budget": SCALAR,
                     "deadline": SCALAR}
    users = next(n for n in field_tree(MeetingInfo) if n.path == "users")
    assert users.columns == ["name", "email", "twitter"]
    assert users.type_label == "table of User"


def test_nested_model_is_a_group_with_dotted_leaves() -> None:
    tree = {n.path: n for n in field_tree(ContactCard)}
    assert tree["address"].kind == GROUP
    assert [c.path for c in tree["address"].children][:2] == ["address.street", "address.city"]
    assert "address.city" in {n.path for n in leaves(ContactCard)}


def test_literal_label_lists_choices() -> None:
    tree = {n.path: n for n in field_tree(SupportTicket)}
    assert tree["priority"].type_label == "one of: low, medium, high, urgent"
    assert tree["steps_to_reproduce"].kind == ITEMS


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_every_schema_has_a_sample_and_rows(name: str) -> None:
    assert SAMPLES[SAMPLE_FOR_SCHEMA[name]].strip()
    rows = schema_rows(SCHEMAS[name])
    assert rows and all(r["Type"] for r in rows)


EVERYDAY = ["Invoice", "SupportTicket", "JobPosting", "ContactCard", "Recipe"]


@pytest.mark.parametrize("name", EVERYDAY)
def test_everyday_schemas_describe_every_field(name: str) -> None:
    assert all(r["Description"] != "—" for r in schema_rows(SCHEMAS[name]))


def test_leaf_key() -> None:
    assert leaf_key("users[3].name") == "users"
    assert leaf_key("address.city") == "address.city"
    assert leaf_key("interests[0]") == "interests"


class TreeNode(BaseModel):
    """A model that contains itself: a tree."""

    name: str
    children: list[TreeNode] = []
    parent: TreeNode | None = None


def test_a_recursive_model_gets_a_finite_form_and_streams_whole_subtrees() -> None:
    from engine import stream_model
    from engine.runs.display import display_value
    from engine.runs.runner import Runner

    kinds = {n.path: n.kind for n in leaves(TreeNode)}
    assert kinds == {"name": SCALAR, "children": ITEMS, "parent": SCALAR}
    answer = ('{"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}], '
              '"parent": {"name": "p", "parent": {"name": "q"}}}')
    chunks = [answer[i:i + 5] for i in range(0, len(answer), 5)]
    runner = Runner(leaves(TreeNode), lambda cancel: stream_model(TreeNode, chunks)).start()
    assert runner.wait(10)
    shown = runner.snapshot_all().leaves
    assert shown["parent"].cell.value.model_dump() == {
        "name": "p", "children": [], "parent": {"name": "q", "children": [], "parent": None}}
    assert '"q"' in display_value(shown["parent"].cell.value)
    assert shown["children"].items[0].value.children[0].name == "c"
    assert runner.result.parent.parent.name == "q"
