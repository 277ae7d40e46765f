"""History: every run recorded, filtered, inspected, replayed, compared, exported."""

from ui.history_view import render_history_page
from ui.shell import framed

if framed():  # else app.py ran here, and drew this page inside its frame
    render_history_page()
