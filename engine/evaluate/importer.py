"""A labelled set from files: documents (files, or ZIPs of them) and a file of expected
answers matched to them by name; and a set written back out as one ZIP that imports again.

`read_import` reads everything first and says every mismatch by name, before anything is
stored (`ImportPlan`): a document without an answer, an answer without a document, an answer
that does not fit the schema (its field and why), a document that cannot be read (why), a
name given twice. `import_set` stores what fits; documents with a problem are left out.

- **Documents** are read as a batch reads its upload (`documents.batch_input.iter_inputs`, then
  `to_document`): PDF, Word, HTML, e-mail, text... become text; a ZIP's files each count, by
  their own name (the folders in the ZIP are not part of it).
- **Answers**, by the file's name:
  - JSON Lines (`.jsonl`, `.ndjson`; `.json` holding one object a line or a list of objects):
    `{"file": "a.pdf", "answer": {...}}` (`name` for `file`, `gold` for `answer`; with both
    `file` and `name`, `file` finds the document and `name` names it in the set), or
    `{"file": "a.pdf", "invoice_number": "...", ...}`: the fields inline beside `file`.
  - CSV (`.csv`, `.tsv`): a `file` column and a column per top-level field; a cell holding a
    JSON list or object (`[...]`, `{...}`) is read as JSON, an empty cell is null, other cells
    are text the schema reads (`"12.5"` for a number is 12.5).
  - None given: an `answers.jsonl` or `answers.csv` among the documents (the export's own).
- **Matching** an answer to a document: the same name, else the same in any case, else the
  answer names the document's name without its extension (`a` for `a.pdf`).
- **Export** (`export_set`): `documents/<name>.txt` (the text as kept) and `answers.jsonl`
  whose lines name those files; `read_import` takes the ZIP back as it is.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from engine.documents.batch_input import InputItem, iter_inputs, to_document
from engine.documents.decode import Undecodable, decode
from engine.documents.model import DocumentError, DocumentInfo
from engine.evaluate import sets
from engine.evaluate.model import LabelSet, NewExample
from engine.store import Store

__all__ = ["ANSWER_FILES", "ImportPlan", "Problem", "export_set", "import_set", "read_import"]

#: An answers file found among the documents (never a document itself).
ANSWER_FILES = ("answers.jsonl", "answers.csv")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv", ".tsv")
NO_ANSWER = "no answer names this document"
NO_DOCUMENT = "no document has this name"

Check = Callable[[dict[str, Any]], list[tuple[str, str]]]


@dataclass(frozen=True)
class Problem:
    """Why one document or answer is left out: `name` is the document's (or the answer's,
    or the answers file's line), `field` the answer's field when the answer does not fit."""

    name: str
    field: str | None
    reason: str

    @property
    def message(self) -> str:
        where = f"{self.name}: {self.field}" if self.field else self.name
        return f"{where}: {self.reason}"


@dataclass
class ImportPlan:
    examples: list[NewExample] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def messages(self) -> list[str]:
        return [problem.message for problem in self.problems]


@dataclass(frozen=True)
class _Answer:
    key: str  # the name that finds its document
    name: str | None  # the name it gives the document in the set, when said
    gold: dict[str, Any]
    where: str  # "answers.jsonl line 3", for a message
    broken: bool = False  # a cell was not read (said already): its document is left out


@dataclass(frozen=True)
class _Doc:
    name: str  # its own name, without the ZIP's folders
    text: str
    info: DocumentInfo | None


# --- reading ----------------------------------------------------------------------------


def read_import(documents: Sequence[tuple[str, bytes]], answers: tuple[str, bytes] | None,
                *, check: Check) -> ImportPlan:
    """The examples the documents and answers make, and every problem by name (see the
    module doc). `check(gold)` says how an answer does not fit the schema
    (`sets.check_gold` with the schema bound)."""
    plan = ImportPlan()
    items, found = _items(documents)
    answers = answers if answers is not None else found
    if answers is None:
        plan.problems.append(Problem("answers", None, "no file of expected answers: give a JSON "
                                     "Lines (.jsonl) or CSV (.csv) file, matched to the "
                                     "documents by file name."))
        given: list[_Answer] = []
    else:
        given = _read_answers(*answers, plan.problems)
    docs, unreadable = _read_documents(items, plan.problems)
    # An unreadable document's answer is not "without a document": the document said why.
    given = [a for a in given if not any(_same_name(name, a.key) for name in unreadable)]
    docs, given = _unique(docs, given, plan.problems)
    for doc, answer in _match(docs, given, plan.problems):
        if answer.broken:
            continue
        problems = check(answer.gold)
        if problems:
            plan.problems.extend(Problem(doc.name, path or None, reason)
                                 for path, reason in problems)
            continue
        plan.examples.append(NewExample(answer.name or doc.name, doc.text, answer.gold,
                                        document=doc.info))
    return plan


def _items(documents: Sequence[tuple[str, bytes]]) -> tuple[list[InputItem],
                                                             tuple[str, bytes] | None]:
    """The uploads' documents, and an answers file found among them (the first)."""
    items: list[InputItem] = []
    found: tuple[str, bytes] | None = None
    seen: dict[str, str] = {}
    for name, data in documents:
        for item in iter_inputs(name, data, seen=seen):
            if _base(item.name).casefold() in ANSWER_FILES and item.data is not None:
                found = found or (_base(item.name), item.data)
                continue
            items.append(item)
    return items, found


def _read_documents(items: Sequence[InputItem],
                    problems: list[Problem]) -> tuple[list[_Doc], list[str]]:
    """Each item's text (a file read once however often its bytes come), and the names of
    those that cannot be read, each a problem saying why."""
    read: dict[str, tuple[str, DocumentInfo | None]] = {}
    docs, unreadable = [], []
    for item in items:
        name = _base(item.name)
        try:
            if item.sha256 not in read:
                document = to_document(item)
                read[item.sha256] = (document.text, document.info if item.data else None)
            text, info = read[item.sha256]
        except DocumentError as exc:
            problems.append(Problem(name, None, exc.problem))
            unreadable.append(name)
            continue
        if not text.strip():
            problems.append(Problem(name, None, "the document has no text."))
            unreadable.append(name)
            continue
        docs.append(_Doc(name, text, _renamed(info, name)))
    return docs, unreadable


def _renamed(info: DocumentInfo | None, name: str) -> DocumentInfo | None:
    if info is None or info.name == name:
        return info
    return DocumentInfo(name, info.type, info.size, info.sha256, info.pages, info.chars,
                        info.page_starts, info.encoding, info.notes)


def _unique(docs: list[_Doc], given: list[_Answer],
            problems: list[Problem]) -> tuple[list[_Doc], list[_Answer]]:
    """Names given twice left out, both times, each said once: a document name (two folders
    of a ZIP), an answer's name (two lines), a name in the set (two answers' `name`)."""
    doc_count = Counter(doc.name for doc in docs)
    answer_lines: dict[str, list[str]] = defaultdict(list)
    for answer in given:
        answer_lines[answer.key].append(answer.where)
    for name, count in doc_count.items():
        if count > 1:
            problems.append(Problem(name, None, f"{count} documents have this name (in different "
                                    "folders or uploads): rename all but one."))
    for key, lines in answer_lines.items():
        if len(lines) > 1:
            problems.append(Problem(key, None, f"more than one answer names it "
                                    f"({', '.join(lines)}): keep one."))
    twice = {name for name, count in doc_count.items() if count > 1}
    twice |= {key for key, lines in answer_lines.items() if len(lines) > 1}
    # The documents and answers such a name reaches are left out without a second message.
    return ([doc for doc in docs if not any(_same_name(doc.name, key) for key in twice)],
            [a for a in given if not any(_same_name(name, a.key) for name in twice)])


def _match(docs: list[_Doc], given: list[_Answer],
           problems: list[Problem]) -> list[tuple[_Doc, _Answer]]:
    """Each document with its answer: the same name, else in any case, else the answer names
    its stem; what is left on either side is a problem."""
    free = list(given)
    pairs: dict[int, _Answer] = {}
    for same in (_exact, _any_case, _stem):
        for i, doc in enumerate(docs):
            if i in pairs:
                continue
            answer = next((a for a in free if same(doc.name, a.key)), None)
            if answer is not None:
                pairs[i] = answer
                free.remove(answer)
    for i, doc in enumerate(docs):
        if i not in pairs:
            problems.append(Problem(doc.name, None, NO_ANSWER))
    problems.extend(Problem(a.key, None, f"{NO_DOCUMENT} ({a.where}).") for a in free)
    pairs_in_order = [(docs[i], pairs[i]) for i in sorted(pairs)]
    named = Counter(answer.name or doc.name for doc, answer in pairs_in_order)
    for name, count in named.items():
        if count > 1:
            problems.append(Problem(name, None, f"{count} documents would have this name in "
                                    "the set: give each its own."))
    return [(doc, a) for doc, a in pairs_in_order if named[a.name or doc.name] == 1]


def _same_name(doc: str, key: str) -> bool:
    return _exact(doc, key) or _any_case(doc, key) or _stem(doc, key)


def _exact(doc: str, key: str) -> bool:
    return doc == key


def _any_case(doc: str, key: str) -> bool:
    return doc.casefold() == key.casefold()


def _stem(doc: str, key: str) -> bool:
    stem = PurePosixPath(doc).stem
    return stem != doc and stem.casefold() == key.casefold()


def _base(name: str) -> str:
    """A document's own name: the last part of a ZIP member's path."""
    return name.replace("\\x5c", "/").rsplit("/", 1)[-1] or name


# --- answers ----------------------------------------------------------------------------


def _read_answers(name: str, data: bytes, problems: list[Problem]) -> list[_Answer]:
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in JSONL_SUFFIXES + CSV_SUFFIXES:
        problems.append(Problem(name, None, "expected answers are read from JSON Lines "
                                "(.jsonl) or CSV (.csv); rename the file if it is one."))
        return []
    try:
        text, _ = decode(data)
    except Undecodable as exc:
        problems.append(Problem(name, None, f"cannot be read as text: {exc}."))
        return []
    text = text.removeprefix("\ufeff")
    if suffix in CSV_SUFFIXES:
        return _csv_answers(name, text, suffix, problems)
    return _jsonl_answers(name, text, problems)


def _jsonl_answers(name: str, text: str, problems: list[Problem]) -> list[_Answer]:
    found = []
    for where, value in _json_values(name, text, problems):
        answer = _answer(value, where, problems)
        if answer is not None:
            found.append(answer)
    return found


def _json_values(name: str, text: str, problems: list[Problem]) -> Iterator[tuple[str, Any]]:
    """Each line's value (a `.json` file holding one list: each item)."""
    if text.lstrip().startswith("["):
        try:
            values = json.loads(text)
        except ValueError as exc:
            problems.append(Problem(name, None, f"is not valid JSON ({exc})."))
            return
        for n, value in enumerate(values if isinstance(values, list) else [values], start=1):
            yield f"{name} item {n}", value
        return
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"{name} line {n}", json.loads(line)
        except ValueError as exc:
            problems.append(Problem(f"{name} line {n}", None, f"is not valid JSON ({exc})."))


def _answer(value: Any, where: str, problems: list[Problem]) -> _Answer | None:
    if not isinstance(value, dict):
        problems.append(Problem(where, None, "each line must be a JSON object naming its "
                                "document (\"file\") and giving its answer."))
        return None
    wrapped = next((k for k in ("answer", "gold") if k in value), None)
    if wrapped is not None:
        key = value.get("file", value.get("name"))
        named = value.get("name") if "file" in value else None
        gold = value[wrapped]
    else:  # the fields inline: only "file" is ours ("name" may be a field of the schema)
        key, named = value.get("file"), None
        gold = {k: v for k, v in value.items() if k != "file"}
    if not isinstance(key, str) or not key.strip():
        problems.append(Problem(where, None, "names no document: give its file name as "
                                "\"file\"."))
        return None
    if named is not None and (not isinstance(named, str) or not named.strip()):
        problems.append(Problem(where, None, "\"name\" must be the document's name in the set."))
        return None
    if not isinstance(gold, dict):
        problems.append(Problem(_base(key.strip()), None, f"the answer must be a JSON object "
                                f"({where})."))
        return None
    return _Answer(_base(key.strip()), named.strip() if named else None, gold, where)


def _csv_answers(name: str, text: str, suffix: str, problems: list[Problem]) -> list[_Answer]:
    first = text.split("\n", 1)[0]
    delimiter = "\t" if suffix == ".tsv" else max(",;\t", key=first.count)
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        table = [row for row in rows if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        problems.append(Problem(name, None, f"the CSV is malformed at line {rows.line_num} "
                                f"({exc})."))
        return []
    if not table:
        problems.append(Problem(name, None, "the file is empty."))
        return []
    header = [cell.strip() for cell in table[0]]
    files = [i for i, cell in enumerate(header) if cell.casefold() == "file"]
    if not files:
        problems.append(Problem(name, None, "the CSV needs a \"file\" column naming each "
                                "answer's document, and a column per field."))
        return []
    found = []
    for n, row in enumerate(table[1:], start=2):
        answer = _csv_answer(header, files[0], row, f"{name} row {n}", problems)
        if answer is not None:
            found.append(answer)
    return found


def _csv_answer(header: list[str], file_column: int, row: list[str], where: str,
                problems: list[Problem]) -> _Answer | None:
    key = row[file_column].strip() if file_column < len(row) else ""
    if not key:
        problems.append(Problem(where, None, "names no document (its \"file\" cell is empty)."))
        return None
    gold: dict[str, Any] = {}
    bad = False
    for i, column in enumerate(header):
        if i == file_column or not column:
            continue
        cell = row[i].strip() if i < len(row) else ""
        try:
            gold[column] = _cell(cell)
        except ValueError as exc:
            problems.append(Problem(_base(key), column, f"the cell starts as JSON but is not "
                                    f"valid JSON ({exc})."))
            bad = True
    return _Answer(_base(key), None, gold, where, broken=bad)


def _cell(cell: str) -> Any:
    """Empty: null; a JSON list or object: parsed; anything else: text for the schema."""
    if not cell:
        return None
    if cell[0] in "[{":
        return json.loads(cell)
    return cell


# --- storing and exporting ----------------------------------------------------------------


def import_set(store: Store, name: str, schema_name: str, plan: ImportPlan, *,
               schema_version: str | int | None = None, who: str | None = None) -> LabelSet:
    """The plan's examples as a new set, or as the next version of the set `name` (each
    replacing the document of its name, the others added). ValueError when there is nothing
    to import, or the set holds answers for another schema."""
    if not plan.examples:
        said = f": {len(plan.problems)} problem(s), the first: {plan.problems[0].message}" \
            if plan.problems else ""
        raise ValueError(f"Nothing to import: no document has an answer that fits{said}")
    existing = sets.get_set(store, name)
    if existing is None:
        return sets.create_set(store, name, schema_name, plan.examples,
                               schema_version=schema_version, who=who,
                               note=f"imported {_count(len(plan.examples))}")
    if existing.schema_name.casefold() != schema_name.strip().casefold():
        raise ValueError(f"The set {existing.name!r} holds answers for the schema "
                         f"{existing.schema_name!r}, not {schema_name!r}.")
    return sets.merge_examples(store, existing.name, plan.examples,
                               schema_version=schema_version, who=who)


def export_set(store: Store, name: str, version: int | None, out: BinaryIO) -> int:
    """The set version (its newest when None) as a ZIP written to `out`: each document's text
    as `documents/<name>.txt` and `answers.jsonl` naming them; the count of documents.
    ValueError for an unknown set or version."""
    labelled = sets.get_set(store, name, version)
    if labelled is None:
        which = f" in version {version}" if version is not None else ""
        raise ValueError(f"There is no labelled set named {name!r}{which}.")
    examples = sets.examples(store, labelled.name, labelled.version)
    used: set[str] = set()
    lines = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for example in examples:
            member = _member_name(example.name, used)
            archive.writestr(f"documents/{member}", example.text.encode("utf-8", "surrogatepass"))
            line: dict[str, Any] = {"file": member, "name": example.name, "answer": example.gold}
            lines.append(json.dumps(line, ensure_ascii=False))
        archive.writestr("answers.jsonl", "".join(f"{line}\n" for line in lines))
    return len(examples)


def _member_name(name: str, used: set[str]) -> str:
    """A file name for the document's text: its name with `.txt` (unless it has it), no
    folder separators, unique in the ZIP in any case."""
    base = name.replace("/", "_").replace("\\", "_").strip(". ") or "document"
    stem = base[:-4] if base.lower().endswith(".txt") else base
    member, n = f"{stem}.txt", 1
    while member.casefold() in used or member.casefold() in ANSWER_FILES:
        n += 1
        member = f"{stem}-{n}.txt"
    used.add(member.casefold())
    return member


def _count(count: int) -> str:
    return f"{count} document{'' if count == 1 else 's'}"
