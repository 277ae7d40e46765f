"""The typed stage of the pipeline: parser events -> a Partial model updated in place.

Each event touches one path: the value is validated once, alone, when it completes, and
stored into its parent (an attribute of a partial instance, a list slot, a dict key). Nothing
is re-read, so the cost of a chunk does not depend on what came before it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from engine.stream.changes import Done, Grew, Invalid, Started
from engine.stream.json_stream import Builder, child_path
from engine.stream.nodes import DICT, LIST, MODEL, WHOLE, Node, error_messages

__all__ = ["TypedBuilder"]

_set = object.__setattr__


class _Ctx:
    """An open container: its node, the partial value being filled (None for values that
    appear only when complete), the raw JSON value, and what its children already validated:
    the items of a list, the plain nested models and lists of a model (`kids`), so that closing
    the container does not validate them a second time."""

    __slots__ = ("items", "kids", "node", "raw", "target")

    def __init__(self, node: Node | None, target: Any, raw: Any) -> None:
        self.node = node
        self.target = target
        self.raw = raw
        self.items: list[Any] | None = [] if target is not None and type(target) is list else None
        self.kids: dict[str, Any] | None = {} if node is not None and node.kind == MODEL else None


def _new_partial(node: Node) -> Any:
    """A blank partial instance, without running validation (like model_construct, cheaper)."""
    inst = node.cls.__new__(node.cls)  # type: ignore[union-attr]
    _set(inst, "__dict__", node.blank.copy())
    _set(inst, "__pydantic_fields_set__", set())
    _set(inst, "__pydantic_extra__", None)
    _set(inst, "__pydantic_private__", None)
    return inst


class TypedBuilder(Builder):
    """Builds the Partial value for a schema node tree and reports typed changes."""

    def __init__(self, root: Node) -> None:
        self.out = []
        self.done: dict[str, int] = {}
        self.rootnode = root
        self.root: Any = None  # the raw JSON value
        self.partial: Any = None
        self.result: Any = None  # the validated root value once complete
        self.root_valid = False
        self.errors: dict[str, str] = {}
        self.finished = 0  # finished leaf fields (done or invalid)

    # -- where a child goes ---------------------------------------------------------------

    def _child(self, pctx: _Ctx | None, key: Any) -> tuple[Any, Node | None]:
        """(attribute or key in the partial parent, node); node None: not in the schema."""
        if pctx is None:
            return None, self.rootnode
        pnode = pctx.node
        if pnode.kind == MODEL:  # type: ignore[union-attr]
            fields = pnode._fields  # type: ignore[union-attr]
            ent = (fields if fields is not None else pnode.fields).get(key)  # type: ignore[union-attr]
            return ent if ent is not None else (None, None)
        return key, pnode.item  # type: ignore[union-attr]

    def _put(self, pctx: _Ctx | None, slot: Any, value: Any) -> None:
        if pctx is None:
            self.partial = value
            return
        t = pctx.target
        if pctx.node.kind == MODEL:  # type: ignore[union-attr]
            t.__dict__[slot] = value
            t.__pydantic_fields_set__.add(slot)
        elif type(t) is dict or slot < len(t):
            t[slot] = value
        else:
            t.append(value)

    @staticmethod
    def _put_raw(pctx: _Ctx, key: Any, value: Any) -> None:
        raw = pctx.raw
        if type(raw) is dict:
            raw[key] = value
        else:
            raw.append(value)

    def _mark_done(self, path: str, node: Node | None, value: Any) -> None:
        self.done[path] = len(self.done)
        self.out.append(Done(path, value))
        if node is not None and node.counted and node.kind != MODEL:
            self.finished += 1

    def _mark_invalid(self, path: str, node: Node, value: Any, exc: ValidationError) -> None:
        msgs = error_messages(exc, path)
        summary = msgs.get(path) or "; ".join(
            f"{sub[len(path):].lstrip('.') or sub}: {msg}" for sub, msg in msgs.items())
        errors = {**self.errors, **msgs}  # a new dict: earlier snapshots keep theirs
        errors.setdefault(path, summary)
        self.errors = errors
        self.out.append(Invalid(path, value, summary))
        if node.counted and node.kind != MODEL:
            self.finished += 1

    # -- parser events ------------------------------------------------------------------

    def open(self, pctx: _Ctx | None, key: Any, path: str, is_obj: bool) -> _Ctx:
        raw: Any = {} if is_obj else []
        if pctx is None:
            self.root = raw
        else:
            self._put_raw(pctx, key, raw)
            if pctx.target is None:  # inside a value that appears only when complete
                return _Ctx(None, None, raw)
        slot, node = self._child(pctx, key)
        target = self._typed_container(node, is_obj)
        if target is None:
            if node is not None:
                self.out.append(Started(path, None))
            return _Ctx(node, None, raw)
        self._put(pctx, slot, target)
        self.out.append(Started(path, target))
        return _Ctx(node, target, raw)

    def _typed_container(self, node: Node | None, is_obj: bool) -> Any:
        if node is None:
            return None
        kind = node.kind
        if node is self.rootnode and self.partial is not None:
            return self.partial  # made up front, so readers hold the same object throughout
        if kind == MODEL and is_obj:
            return _new_partial(node)
        if kind == LIST and not is_obj:
            return []
        if kind == DICT and is_obj:
            return {}
        return None  # WHOLE, or a shape that does not match the schema (fails at close)

    def close(self, pctx: _Ctx | None, key: Any, path: str, ctx: _Ctx) -> None:
        node = ctx.node
        if node is None:
            if pctx is not None and pctx.target is not None:  # a key the schema does not know
                self._mark_done(path, None, ctx.raw)
            return
        if ctx.target is None:  # a value that appears only when complete
            self._complete(pctx, key, path, node, ctx.raw)
            return
        if node.kind == MODEL:
            self._fill_defaults(ctx, path)
        try:
            if ctx.items is not None and node.plain and len(ctx.items) == len(ctx.raw):
                value = ctx.items  # every item already validated: nothing to re-check
            elif ctx.kids:  # validated model instances are taken as they are, not re-read
                value = node.validate({**ctx.raw, **ctx.kids})
            else:
                value = node.validate(ctx.raw)
        except ValidationError as exc:
            self._mark_invalid(path, node, ctx.target, exc)
        else:
            self._mark_done(path, node, value)
            if pctx is None:
                self.result, self.root_valid = value, True
            elif pctx.items is not None:
                pctx.items.append(value)
            elif pctx.kids is not None and node.plain and node.kind in (MODEL, LIST):
                pctx.kids[key] = value

    def begin(self, pctx: _Ctx | None, key: Any, path: str) -> tuple[Any, ...]:
        """Resolve a scalar's place once: (parent ctx, key, path, slot, node, and the partial
        instance's __dict__ when it is a string field of a model, the one that grows most)."""
        if pctx is not None and pctx.target is None:  # inside a value shown when complete
            return pctx, key, path, None, None, None
        slot, node = self._child(pctx, key)
        grows_in = None
        if node is not None and node.grows and pctx is not None and pctx.node.kind == MODEL:
            grows_in = pctx.target.__dict__
        return pctx, key, path, slot, node, grows_in

    def scalar(self, slot: tuple[Any, ...], value: Any) -> None:
        pctx, key, path, attr, node, _ = slot
        if pctx is None:
            self.root = value
        else:
            raw = pctx.raw
            if type(raw) is dict:
                raw[key] = value
            else:
                raw.append(value)
            if pctx.target is None:
                return
        if node is None:
            self._mark_done(path, None, value)
            return
        if type(value) is node.fast and pctx is not None and pctx.node.kind == MODEL:
            # The common case, inlined: a plain str/int/float/bool field of a model.
            target = pctx.target
            target.__dict__[attr] = value
            target.__pydantic_fields_set__.add(attr)
            self.done[path] = len(self.done)
            self.out.append(Done(path, value))
            if node.counted:
                self.finished += 1
            return
        self._complete(pctx, attr, path, node, value)

    def _complete(self, pctx: _Ctx | None, slot: Any, path: str, node: Node, raw: Any) -> None:
        """A value that is complete in one piece: validate it alone, store it, report it."""
        try:
            value = node.validate(raw)
        except ValidationError as exc:
            self._put(pctx, slot, raw if node.fits_partial(raw) else None)
            self._mark_invalid(path, node, raw, exc)
            return
        shown = node.as_partial(raw) if node.kind in (WHOLE, MODEL) and raw is not None else value
        if node.kind == MODEL and node.counted and value is None:
            self.finished += node.nleaves  # a null nested model: all its leaves are settled
        self._put(pctx, slot, shown)
        if pctx is not None and pctx.items is not None:
            pctx.items.append(value)
        if pctx is None:
            self.result, self.root_valid = value, True
        self._mark_done(path, node, value)

    def partial_str(self, slot: tuple[Any, ...], text: str, delta: str, first: bool) -> None:
        grows_in = slot[5]
        if grows_in is not None and not first:  # the hot path: a model's string grows
            grows_in[slot[3]] = text
            self.out.append(Grew(slot[2], text, delta))
            return
        pctx, _, path, attr, node, _ = slot
        if node is None or pctx is None:
            return
        if not node.grows:  # Literal, Enum, dates ...: shown once complete and valid
            if first:
                self.out.append(Started(path, None))
            return
        if grows_in is not None:
            pctx.target.__pydantic_fields_set__.add(attr)
        self._put(pctx, attr, text)
        self.out.append(Started(path, text) if first else Grew(path, text, delta))

    def partial_scalar(self, slot: tuple[Any, ...]) -> None:
        if slot[0] is not None and slot[4] is not None:
            self.out.append(Started(slot[2], None))

    def _fill_defaults(self, ctx: _Ctx, path: str) -> None:
        """Fields left out of a closed object: report their defaults as done; count the
        leaves of optional ones as settled."""
        seen = ctx.target.__pydantic_fields_set__
        for name, info, attr_node in ctx.node.optional_fields:  # type: ignore[union-attr]
            if name in seen:
                continue
            default = info.get_default(call_default_factory=True)
            sub = child_path(path, info.alias or name)  # paths use the JSON keys
            if default is None or isinstance(default, (str, int, float, bool)):
                ctx.target.__dict__[name] = default
            self.done[sub] = len(self.done)
            self.out.append(Done(sub, default))
            if attr_node.counted:
                self.finished += attr_node.nleaves
