"""One run as views need it, without Streamlit: runner, statuses, outcome wording.
"""
