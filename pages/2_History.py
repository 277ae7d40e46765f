"""History: every run recorded, filtered, inspected, replayed, compared, exported."""

from ui.history_view import render_history_page
from ui.page import setup_page

setup_page("History", "🗂️")
render_history_page()
