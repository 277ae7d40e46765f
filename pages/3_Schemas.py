"""Schemas: the library, the no-code builder, drafts from a description, JSON Schema in and out."""

from ui.page import setup_page
from ui.schemas_view import render_schemas_page

setup_page("Schemas", ":material/schema:")
render_schemas_page()
