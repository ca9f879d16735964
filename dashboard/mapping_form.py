"""The Data page's column mapping: for a file whose columns are named otherwise, the user picks which column is
which field (and which of its modality or session-type values is which term), sees what will be imported, and may
save the mapping under a name; a saved mapping is then one choice away (dashboard/ingest/mapping.py)."""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.escape import md
from dashboard.ingest.contract import _LOOKUP, FIELDS, MODALITY_LOOKUP, REQUIRED, SESSION_TYPE_LOOKUP
from dashboard.ingest.mapping import VALUE_FIELDS, ColumnMap, MappingError
from dashboard.instruments import normalise
from dashboard.views.common import table as show_table

DETECT = "Detect the columns (no mapping)"
NEW = "New mapping…"
ABSENT = "(not in the file)"
HEAD_ROWS = 1_000  # rows read for the preview and the values offered for mapping
KINDS = {"sessions": "sessions (doses and other visits)", "scores": "scores (one score per row)", "clients": "clients"}
VOCABULARY = {"modality": MODALITY_LOOKUP, "session_type": SESSION_TYPE_LOOKUP}


def head(upload) -> pd.DataFrame:
    """The first rows of an uploaded file, as text."""
    name = upload.name.lower()
    raw = upload.getvalue()
    if name.endswith(".xlsx"):
        return pd.read_excel(io.BytesIO(raw), nrows=HEAD_ROWS, dtype=str)
    if name.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        batch = next(pq.ParquetFile(io.BytesIO(raw)).iter_batches(batch_size=HEAD_ROWS), None)
        return batch.to_pandas().astype("string") if batch is not None else pd.DataFrame()
    text = raw[: 4 * 1024 * 1024].decode("utf-8-sig", errors="replace")
    sep = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
    return pd.read_csv(io.StringIO(text), sep=sep, nrows=HEAD_ROWS, dtype=str, keep_default_na=False)


def _guess(field: str, headers: list[str]) -> int:
    for i, h in enumerate(headers):
        if _LOOKUP.get(normalise(h)) == field or normalise(h) == normalise(field):
            return i + 1
    return 0


def form(uploads) -> tuple[ColumnMap | None, str | None, bool]:
    """(the mapping to import through, or None; the name to save it under, or None; whether the import may go on)."""
    saved = data.column_mappings()
    choice = st.selectbox(
        "Column mapping",
        [DETECT, *saved.name.tolist(), NEW],
        key="mapping_choice",
        help="Files whose columns the contract knows need none. For an export whose columns are named otherwise, "
        "make a new mapping once and save it: next week's export then imports with it in one step.",
    )
    if choice == DETECT:
        return None, None, True
    if choice != NEW:
        chosen = ColumnMap.from_json(saved.set_index("name").spec[choice])
        parts = [f"{f} ← {md(c)}" for f, c in chosen.columns.items()]
        parts += [f"{f} {md(v)} → {t}" for f, table in chosen.values.items() for v, t in table.items()]
        st.caption("Mapping: " + "; ".join(parts))
        return chosen, None, True
    if not uploads:
        st.info("Choose a file above: its columns are offered here.", icon=":material/info:")
        return None, None, False
    try:
        rows = head(uploads[0])
    except Exception as exc:  # any reader's error is shown, not raised
        st.error(f"{md(uploads[0].name)} cannot be read for mapping ({md(type(exc).__name__)}).")
        return None, None, False
    st.caption(f"The first rows of {md(uploads[0].name)} (they are not stored until you import):")
    show_table(rows.head(5), hide_index=True, width="stretch")
    kind = st.selectbox("The file holds", list(KINDS), format_func=KINDS.get, key="mapping_kind")
    headers = list(rows.columns)
    columns = {}
    cells = st.columns(3)
    for i, field in enumerate(FIELDS[kind]):
        needed = field in REQUIRED[kind]
        pick = cells[i % 3].selectbox(
            field + (" (required)" if needed else ""),
            [ABSENT, *headers],
            index=_guess(field, headers),
            key=f"map_{kind}_{field}",
        )
        if pick != ABSENT:
            columns[field] = pick
    values: dict[str, dict[str, str]] = {}
    for field, terms in VALUE_FIELDS.items():
        source = columns.get(field)
        if kind != "sessions" or source is None:
            continue
        found = sorted({v for v in rows[source].dropna().astype(str) if v.strip()})[:100]
        unknown = [v for v in found if normalise(v) not in VOCABULARY[field]]
        if not unknown:
            continue
        st.caption(f"Values of {md(source)} that are not {field} terms: choose the term each means.")
        edited = st.data_editor(
            pd.DataFrame({"value": unknown, "term": [None] * len(unknown)}),
            column_config={
                "value": st.column_config.TextColumn("Value in the file", disabled=True),
                "term": st.column_config.SelectboxColumn(f"Is the {field}", options=list(terms)),
            },
            hide_index=True,
            key=f"map_values_{field}",
        )
        values[field] = {r.value: r.term for r in edited.itertuples() if isinstance(r.term, str) and r.term}
    mapping = ColumnMap(columns, {f: v for f, v in values.items() if v})
    try:
        mapping.check()
    except MappingError as exc:
        st.error(md(str(exc)))
        return None, None, False
    missing = [f for f in REQUIRED[kind] if f not in columns]
    if missing:
        st.warning(f"Choose the column for {', '.join(missing)}: a {kind} file needs it.")
        return None, None, False
    preview = pd.DataFrame({f: rows[c] for f, c in columns.items()}).head(10)
    for field, table in mapping.values.items():
        lookup = {normalise(v): t for v, t in table.items()} | VOCABULARY[field]
        preview[field] = [lookup.get(normalise(v), v) if isinstance(v, str) and v else v for v in preview[field]]
    st.caption("What will be imported (the first rows; every row is checked as in any file when you import):")
    show_table(preview, hide_index=True, width="stretch")
    name = st.text_input(
        "Save this mapping as", key="mapping_name", placeholder="e.g. EHR weekly export", max_chars=80
    ).strip()
    return mapping, name or None, True
