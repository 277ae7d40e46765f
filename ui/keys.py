"""Every Streamlit key a run's area uses, under one prefix per lane, so that several live forms
fit on one page (the Compare page's lanes) without two widgets or containers sharing a key.

A lane is where one run is shown: the Extract page has one (`extract`), a comparison one per
model. Keys (and so the CSS classes Streamlit derives from them, `st-key-<key>`):

| what | key |
| --- | --- |
| the session slot holding the lane's Runner | `fs_<lane>_run` |
| "start this lane's run on the next draw" (the Home page's sample button) | `fs_<lane>_autostart` |
| the Download JSON button | `fs_<lane>_download` |
| the field picker of the highlighted input text (after the run) | `fs_<lane>_pick` |
| a lane's picker (Compare): schema, version, provider, model, mode, chunking | `fs_<lane>_<what>` |
| the Extract page's "Split into chunks even when the text fits" | `fs_extract_chunking` |
| a field's box / a nested model's card | `fsbox_<lane>-<field>` / `fsgroup_<lane>-<field>` |
| a field's header, redrawn on each state | `fs_<lane>-<field>__<state>__<n>` |

The Batch page (`BATCH_KEYS`, lane `batch`): its pickers `fs_batch_<what>` (schema, version,
provider, model, mode, chunking, reuse, name), its uploader `fs_batch_upload`, its table
`fs_batch_table_<batch>_<page>`, and the chosen document's live form under the lane's keys.

A page's document (`ui/document_input.py`): its file uploader, `UPLOAD_KEYS[page]`
(`fs_extract_upload`, `fs_cmp_upload`), and the documents this session has read,
`DOCUMENTS_KEY` (`fs_documents`: sha256 of the bytes -> the document or its message).

`<field>` is the path's slug (`users[0].name` -> `users_0_name`: letters, digits and single
underscores), `<state>` a field state (pending, streaming, done, invalid) and `<n>` a counter
that makes each redraw's key new. Browser tests find fields by these classes
(`tests/ui_support.py`); keep the two in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LANE = re.compile(r"[a-z][a-z0-9]*")


def slug(path: str) -> str:
    """A field path as a key part: letters, digits and single underscores (`users_0_name`)."""
    return re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "root"


@dataclass(frozen=True)
class RunKeys:
    """The keys of one lane (`lane`: lowercase letters and digits, starting with a letter)."""

    lane: str

    def __post_init__(self) -> None:
        if not _LANE.fullmatch(self.lane):
            raise ValueError(f"A lane name is lowercase letters and digits: {self.lane!r}")

    @property
    def run(self) -> str:
        return f"fs_{self.lane}_run"

    @property
    def autostart(self) -> str:
        return f"fs_{self.lane}_autostart"

    @property
    def download(self) -> str:
        return f"fs_{self.lane}_download"

    @property
    def pick(self) -> str:
        return f"fs_{self.lane}_pick"

    def picker(self, what: str) -> str:
        """A lane's own picker (`schema`, `version`, `provider`, `model`, `mode`, `chunking`);
        the Extract page keeps its older unprefixed keys (`fs_schema`, ...), shared with
        History, but for its newer `chunking`."""
        return f"fs_{self.lane}_{what}"

    def box(self, path: str) -> str:
        return f"fsbox_{self.lane}-{slug(path)}"

    def group(self, path: str) -> str:
        return f"fsgroup_{self.lane}-{slug(path)}"

    def header(self, path: str, state: str, n: int) -> str:
        return f"fs_{self.lane}-{slug(path)}__{state}__{n}"


#: The Extract page's single lane.
EXTRACT_KEYS = RunKeys("extract")
#: The Batch page: its pickers (`fs_batch_<what>`) and the chosen document's live form.
BATCH_KEYS = RunKeys("batch")

#: The document uploader of each page that takes one (a page's own: a widget's value does not
#: follow the person to another page).
UPLOAD_KEYS = {"extract": "fs_extract_upload", "compare": "fs_cmp_upload",
               "batch": "fs_batch_upload"}
#: The documents this session has read, by the sha256 of their bytes (read once per file).
DOCUMENTS_KEY = "fs_documents"
