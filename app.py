"""Fieldstream home: what it does, a one-click sample, and which provider is active."""

from ui.home_view import render_home
from ui.page import setup_page

setup_page("Home", "🌊")
render_home()
