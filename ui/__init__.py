"""Streamlit view helpers shared by app.py and pages/ (the logic they draw lives in engine/)."""
