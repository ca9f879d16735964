"""The app's frame: page setup and navigation. Views live in dashboard/views/."""

from pathlib import Path

import streamlit as st

VIEWS = Path(__file__).resolve().parent / "dashboard" / "views"

st.set_page_config(page_title="Ketamine outcomes", page_icon=":material/monitoring:", layout="wide")

pages = {
    "Manage": [
        st.Page(VIEWS / "data.py", title="Data", icon=":material/database:", url_path="data", default=True),
    ],
}
st.navigation(pages).run()
