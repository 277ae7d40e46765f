"""Batch: many documents, one schema, a table whose rows fill in live, then an export."""

from ui.batch_view import render_batch_page
from ui.shell import framed

if framed():  # else app.py ran here, and drew this page inside its frame
    render_batch_page()
