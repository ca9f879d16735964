"""Pieces every view shows: the demo-data notice, suppressed counts, downloads."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data, export, privacy


def dataset_notice() -> None:
    """Say plainly when the numbers come from the synthetic demo database."""
    info = data.dataset_info()
    if info["kind"] == "demo":
        st.info(
            "**Demo data.** Everything here is synthetic: no real clients. Import your clinic's anonymised "
            "exports on the **Data** page, or point `OUTCOMES_DB` at your database.",
            icon=":material/science:",
        )


def suppressed_counts(frame: pd.DataFrame, columns: list[str], k: int = privacy.DEFAULT_MIN_CELL) -> pd.DataFrame:
    """Counts shown as text, with 1..k-1 replaced by '<k'."""
    out = frame.copy()
    for c in columns:
        out[c] = out[c].map(lambda n: privacy.count_label(n, k))
    return out


def download_csv(frame: pd.DataFrame, label: str, file_name: str, key: str) -> None:
    st.download_button(label, export.to_csv_bytes(frame), file_name=file_name, mime="text/csv", key=key,
                       icon=":material/download:")
