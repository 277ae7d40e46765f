"""Extract: paste a text, pick a schema and a model, watch every field fill in live."""

from ui.extract_view import render_extract_page
from ui.shell import framed

if framed():  # else app.py ran here, and drew this page inside its frame
    render_extract_page()
