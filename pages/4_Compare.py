"""Compare: one text, several schemas or models streaming side by side, then a verdict."""

from ui.compare_view import render_compare_page
from ui.page import setup_page

setup_page("Compare", "⚖️")
render_compare_page()
