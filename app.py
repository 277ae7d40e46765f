"""Fieldstream's front door: the app's pages, then the frame every page shares, then the page
asked for. Adding a page is one `st.Page` line here and its file in pages/."""

import streamlit as st

from ui.shell import frame

# Each URL path is explicit: links and deep links (`History?run=<id>`) name pages by it, so it
# stays put whatever the file is called. Material icons come with Streamlit's own font (an
# emoji needs an emoji font, which Debian's Chromium lacks).
pages = [
    st.Page("pages/0_Home.py", title="Home", icon=":material/home:", url_path="Home",
            default=True),
    st.Page("pages/1_Extract.py", title="Extract", icon=":material/edit_note:", url_path="Extract"),
    st.Page("pages/2_History.py", title="History", icon=":material/history:", url_path="History"),
    st.Page("pages/3_Schemas.py", title="Schemas", icon=":material/schema:", url_path="Schemas"),
    st.Page("pages/4_Compare.py", title="Compare", icon=":material/compare_arrows:",
            url_path="Compare"),
    st.Page("pages/5_Batch.py", title="Batch", icon=":material/dataset:", url_path="Batch"),
    st.Page("pages/6_Evaluate.py", title="Evaluate", icon=":material/fact_check:",
            url_path="Evaluate"),
]
page = st.navigation(pages)
frame(page, pages)
page.run()
