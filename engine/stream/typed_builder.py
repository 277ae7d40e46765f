"""The typed stage of the pipeline: parser events -> a Partial model updated in place.

Each event touches one path: the value is validated once, alone, when it completes, and
stored into its parent (an attribute of a partial instance, a list slot, a dict key). Nothing
is re-read, so the cost of a chunk does not depend on what came before it. A plain string
field grows where it is shown (the partial's `__dict__`, a list slot, a dict key): the parser
appends to it in place, and `Grew` changes read it from there instead of holding a copy.

A member that appears twice in one object (`{"date": "a", "date": "b"}`, or a field given by
its name and by its alias) keeps its first value in the partial and in the final model: the
second is parsed and dropped, with an `Invalid` change and an error on its path that say so.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from engine.stream.changes import Done, Invalid, Started, grew_at
from engine.stream.json_stream import DUPLICATE, Builder, child_path
from engine.stream.nodes import DICT, LIST, MODEL, WHOLE, Node, error_messages, new_partial

__all__ = ["TypedBuilder"]


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


class _Sink:
    """The raw container of a dropped duplicate member: takes values, keeps nothing."""

    def append(self, value: Any) -> None:
        pass


# A dropped duplicate member's context: no node, no target, so nothing below it is shown,
# and a raw container that keeps nothing. Only `close` needs to know it by identity.
_SKIP = _Ctx(None, None, _Sink())


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
            ent = pnode.fields.get(key)  # type: ignore[union-attr]
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

    @staticmethod
    def _is_duplicate(pctx: _Ctx, key: Any, attr: Any) -> bool:
        """Whether this member was already given in its object: by this key, or for a model
        field by another of its names (its alias)."""
        kind = pctx.node.kind  # type: ignore[union-attr]
        if kind == MODEL:
            if attr is not None:
                return attr in pctx.target.__pydantic_fields_set__
            return key in pctx.raw
        return kind == DICT and key in pctx.raw

    def _drop(self, pctx: _Ctx, key: Any, path: str, attr: Any) -> tuple[Any, ...]:
        """A duplicate member: say so on its path, keep the first value; the slot of a value
        shown nowhere."""
        target = pctx.target
        if attr is not None and pctx.node.kind == MODEL:  # type: ignore[union-attr]
            kept = target.__dict__[attr]
        elif type(target) is dict and key in target:
            kept = target[key]
        else:
            kept = pctx.raw.get(key)
        old = self.errors.get(path)
        msg = DUPLICATE if old is None or old.endswith(DUPLICATE) else f"{old}; {DUPLICATE}"
        self.errors = {**self.errors, path: msg}  # a new dict: earlier snapshots keep theirs
        self.out.append(Invalid(path, kept, DUPLICATE))
        return _SKIP, key, path, None, None, None

    def open(self, pctx: _Ctx | None, key: Any, path: str, is_obj: bool) -> _Ctx:
        raw: Any = {} if is_obj else []
        if pctx is None:
            self.root = raw
            slot, node = None, self.rootnode
        elif pctx.target is None:  # inside a value that appears only when complete
            if pctx is _SKIP:
                return _SKIP
            if type(pctx.raw) is dict and key in pctx.raw:
                self._drop(pctx, key, path, None)
                return _SKIP
            self._put_raw(pctx, key, raw)
            return _Ctx(None, None, raw)
        else:
            slot, node = self._child(pctx, key)
            if self._is_duplicate(pctx, key, slot):
                self._drop(pctx, key, path, slot)
                return _SKIP
            self._put_raw(pctx, key, raw)
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
            return new_partial(node)
        if kind == LIST and not is_obj:
            return []
        if kind == DICT and is_obj:
            return {}
        return None  # WHOLE, or a shape that does not match the schema (fails at close)

    def close(self, pctx: _Ctx | None, key: Any, path: str, ctx: _Ctx) -> None:
        node = ctx.node
        if node is None:
            if ctx is _SKIP:
                return
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
        instance's __dict__ when it is a plain string field of a model, the one that grows
        most). A duplicate member gets the slot of a value shown nowhere."""
        if pctx is None:
            return None, None, path, None, self.rootnode, None
        target = pctx.target
        if target is None:  # inside a value shown when complete (or a dropped duplicate)
            if type(pctx.raw) is dict and key in pctx.raw:
                return self._drop(pctx, key, path, None)
            return pctx, key, path, None, None, None
        pnode = pctx.node
        kind = pnode.kind  # type: ignore[union-attr]
        if kind == MODEL:  # `_child` inlined: this runs once per value
            ent = pnode.fields.get(key)  # type: ignore[union-attr]
            if ent is None:  # a key the schema does not know
                if key in pctx.raw:
                    return self._drop(pctx, key, path, None)
                return pctx, key, path, None, None, None
            attr, node = ent
            if attr in target.__pydantic_fields_set__:
                return self._drop(pctx, key, path, attr)
            grows_in = target.__dict__ if node.fast is str else None  # plain str: it grows
            return pctx, key, path, attr, node, grows_in
        if kind == DICT and key in pctx.raw:
            return self._drop(pctx, key, path, None)
        return pctx, key, path, key, pnode.item, None  # type: ignore[union-attr]

    def begin_str(self, pctx: _Ctx | None, key: Any,
                  path: str) -> tuple[tuple[Any, ...], tuple[Any, Any], str | None]:
        """A string: its slot, where its text grows, and whether the parser may report its
        growth itself. A plain string grows where it is shown; any other (a constrained one,
        whose validation may change it at the end; a Literal; one shown nowhere) grows in a
        box of its own."""
        if pctx is not None and pctx.target is not None and pctx.node.kind == MODEL:  # type: ignore[union-attr]
            pnode = pctx.node  # the common case, inlined: a plain string field of a model
            ent = pnode.fields.get(key)  # type: ignore[union-attr]
            target = pctx.target
            seen = target.__pydantic_fields_set__
            if ent is not None and ent[1].fast is str and ent[0] not in seen:
                attr, node = ent
                grows_in = target.__dict__
                grows_in[attr] = ""
                seen.add(attr)
                return (pctx, key, path, attr, node, grows_in), (grows_in, attr), path
        slot = self.begin(pctx, key, path)
        pctx, _, _, attr, node, _ = slot
        if node is not None and pctx is not None and node.fast is str:
            self._put(pctx, attr, "")  # a plain string item of a list, value of a dict
            return slot, (pctx.target, attr), path
        return slot, ([""], 0), None

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

    def partial_str(self, slot: tuple[Any, ...], at: tuple[Any, Any], text: str, delta: str,
                    first: bool) -> None:
        """The first text of a string, and the growth of those the parser does not report
        itself (constrained strings, Literals, strings shown nowhere)."""
        pctx, _, path, attr, node, _ = slot
        if node is None or pctx is None:
            return
        if not node.grows:  # Literal, Enum, dates ...: shown once complete and valid
            if first:
                self.out.append(Started(path, None))
            return
        if node.fast is not str:  # a constrained string: the partial shows its own copy
            self._grow_copy(pctx, attr, text, delta, first)
        self.out.append(Started(path, text) if first else grew_at(path, len(text), delta, at))

    def _grow_copy(self, pctx: _Ctx, attr: Any, text: str, delta: str, first: bool) -> None:
        """Extend the partial's copy of a string that grows in its own box (in place too)."""
        if first:
            self._put(pctx, attr, text)
            return
        t = pctx.target
        holder = t.__dict__ if pctx.node.kind == MODEL else t  # type: ignore[union-attr]
        shown = holder[attr]
        holder[attr] = None
        shown += delta
        holder[attr] = shown

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
