"""Extract: paste a text, pick a schema and a model, watch every field fill in live."""

from ui.extract_view import render_extract_page
from ui.page import setup_page

setup_page("Extract", "🧪")
render_extract_page()
