"""Schemas: the library, the no-code builder, drafts from a description, JSON Schema in and out."""

from ui.schemas_view import render_schemas_page
from ui.shell import framed

if framed():  # else app.py ran here, and drew this page inside its frame
    render_schemas_page()
