"""Evaluate: lanes run over a labelled set, scored field by field as documents complete."""

from ui.evaluate_view import render_evaluate_page
from ui.shell import framed

if framed():  # else app.py ran here, and drew this page inside its frame
    render_evaluate_page()
