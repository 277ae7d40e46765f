"""Compare: one text, several schemas or models streaming side by side, then a verdict."""

from ui.compare_view import render_compare_page
from ui.shell import framed

if framed():  # else app.py ran here, and drew this page inside its frame
    render_compare_page()
