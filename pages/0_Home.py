"""Home: what Fieldstream does, a one-click sample, which provider is active, your servers."""

from ui.home_view import render_home
from ui.shell import framed

if framed():  # else app.py ran here, and drew this page inside its frame
    render_home()
