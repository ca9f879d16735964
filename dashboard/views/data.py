"""Data: import files, see what each import did, and check the data's coverage."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from dashboard import access, data, export, instrument_form, mapping_form, store
from dashboard.escape import md
from dashboard.ingest.importer import STAGES
from dashboard.ingest.mapping import ColumnMap
from dashboard.ingest.run import run_import
from dashboard.settings import load
from dashboard.views.common import dataset_notice, download_csv, suppressed_counts
from dashboard.views.common import table as show_table

LOG_COLUMNS = {
    "import_id": st.column_config.NumberColumn("Import", format="#%d"),
    "file_name": st.column_config.TextColumn("File"),
    "kind": st.column_config.TextColumn("Kind", help="What the file held: clients, sessions or scores"),
    "imported_at_utc": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm"),
    "status": st.column_config.TextColumn("Status"),
    "records_read": st.column_config.NumberColumn("Rows read", format="%d"),
    "imported": st.column_config.NumberColumn("Imported", format="%d"),
    "rejected": st.column_config.NumberColumn("Rejected", format="%d", help="Rows refused, each with its reason"),
    "unchanged_duplicates": st.column_config.NumberColumn(
        "Unchanged duplicates", format="%d", help="Rows already stored exactly as they are"
    ),
    "replaced": st.column_config.NumberColumn("Replaced", format="%d", help="Stored rows this file corrected"),
    "sha256_prefix": st.column_config.TextColumn("File fingerprint", help="The start of the file's SHA-256"),
}
REJECT_COLUMNS = {
    "file": st.column_config.TextColumn("File"),
    "line": st.column_config.TextColumn("Row", help="The file's line (or FHIR entry) of the refused row"),
    "column": st.column_config.TextColumn("Column"),
    "reason": st.column_config.TextColumn("Why refused"),
    "value": st.column_config.TextColumn("Value", help="Shown as its shape where it could identify someone"),
}


st.title("Data")
dataset_notice()

counts = data.table_counts().iloc[0]
cols = st.columns(4)
cols[0].metric("Clients", f"{counts.n_clients:,}")
cols[1].metric("Dosing sessions", f"{counts.n_dosing_sessions:,}", help=f"{counts.n_sessions:,} sessions of all types")
cols[2].metric("Scores", f"{counts.n_scores:,}", help=f"{counts.n_instruments_used} instruments in use")
cols[3].metric("Latest score", counts.latest_score_month or "–", help="Month of the most recent assessment")

st.subheader("Import files")
st.caption(
    "Anonymised CSV (UTF-8, comma or semicolon), Excel .xlsx or Parquet: clients, sessions or scores (long or "
    "wide), with the contract's column names or through a column mapping; or FHIR R4 (a Bundle or Bulk Data "
    "NDJSON). Files with identifying columns or values are refused whole. See the README for the input contract."
)
access.data_page_notice()
into_own = data.showing_demo_instead()
if into_own:
    target_name = data.import_target()
    shown = target_name.relative_to(store.PROJECT_DIR) if target_name.is_relative_to(store.PROJECT_DIR) else target_name
    st.info(
        f"You are looking at the demo. Files you import here go into your own database (`{md(str(shown))}`) "
        "and the app then shows it: the demo is never mixed with real data.",
        icon=":material/info:",
    )
uploads = st.file_uploader(
    "Files to import",
    type=["csv", "xlsx", "parquet", "json", "ndjson"],
    help="CSV, Excel or Parquet files of the input contract, or FHIR R4 (a JSON Bundle or Bulk Data NDJSON; needs a "
    "pseudonym key, see the README).",
    accept_multiple_files=True,
    max_upload_size=load().max_upload_mb,
    disabled=not access.can_import(),
    # a new key after each import empties the uploader: pressing Import again must not import the same files again
    key=f"uploads_{st.session_state.get('imports_done', 0)}",
)
column_map, save_as, mappable = mapping_form.form(uploads)
if st.checkbox(
    "Replace the client and clinician ids by pseudonyms",
    key="pseudonymise",
    help="For a file that holds the EHR's own ids: each is replaced by a keyed HMAC before anything is checked or "
    "stored (OUTCOMES_PSEUDONYM_KEY, or pseudonym_key in [import] of .streamlit/secrets.toml), the same pseudonym a "
    "FHIR import gives the same patient. FHIR files are always pseudonymised.",
):
    column_map = column_map or ColumnMap()
    column_map.pseudonymise = ["client_id", "clinician_id"]
replace = st.checkbox("Replace stored values that conflict", help="Without this, conflicting rows are rejected.")
limit_mb = load().max_upload_mb
too_big = [u.name for u in uploads or [] if u.size > limit_mb * 1024 * 1024]
if too_big:
    st.error(
        f"Too large to import here (over {limit_mb} MB): {', '.join(map(md, too_big))}. Split the file, or import it "
        "with `python -m dashboard import`."
    )
if st.session_state.pop("import_cancelled", False):
    st.warning("The import was cancelled before it finished; nothing was imported.", icon=":material/cancel:")
ready = uploads and not too_big and mappable and access.can_import()
if ready and st.button("Import", type="primary", icon=":material/upload:"):
    status = st.status(f"Importing {len(uploads)} file(s)…", expanded=True)
    bar = status.progress(0.0)
    # pressing Cancel reruns the page, which stops this run and with it the import (see run_import)
    status.button("Cancel import", icon=":material/cancel:", key="cancel_import")
    names = [u.name for u in uploads]

    def show(file: str | None, stage: str) -> None:
        i = names.index(file) if file in names else 0
        done = (i + (list(STAGES).index(stage) if stage in STAGES else 0) / len(STAGES)) / len(names)
        bar.progress(min(done, 1.0), text=f"{md(file)} ({i + 1} of {len(names)}): {STAGES.get(stage, stage)}…")

    target = data.import_target()  # the clinic's store, never the demo
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, upload in enumerate(uploads):
            path = Path(tmp) / f"upload{i}{Path(upload.name).suffix.lower()}"
            path.write_bytes(upload.getbuffer())
            files.append({"path": str(path), "name": upload.name})
        st.session_state["import_cancelled"] = True  # until the import returns: a stopped run leaves it set
        outcome = run_import(Path(tmp), target, files, replace, show, column_map, save_as)
        st.session_state.pop("import_cancelled", None)
    reports = outcome.get("reports", [])
    if "error" in outcome:
        st.error(md(outcome["error"]))
    status.update(
        label="Import finished" if reports else "Nothing was imported",
        state="complete" if reports else "error",
        expanded=False,
    )
    if reports:
        if into_own:
            data.show_clinic()
        data.after_import()
        st.session_state["last_import"] = reports
        st.session_state["imports_done"] = st.session_state.get("imports_done", 0) + 1
        st.rerun()  # redraw the counts above with the new data

for report in st.session_state.get("last_import", []):
    box = st.success if report.ok else (st.error if report.status in ("refused", "unreadable") else st.warning)
    # the summary as the first line; below it, apart, the reason (file, line and column) and notes as a list
    summary, *details = report.summary().splitlines()
    reasons = "\n".join(f"- {md(line.strip())}" for line in details if line.strip())
    box(md(summary) + (f"\n\n{reasons}" if reasons else ""))
if st.session_state.get("last_import"):
    rejected = export.rejects_frame(st.session_state["last_import"])
    if len(rejected):
        show_table(rejected, hide_index=True, width="stretch", column_config=REJECT_COLUMNS)
        download_csv(rejected, "Download rejected rows (CSV)", "rejected_rows.csv", key="dl_rejects_now", figures=False)

instrument_form.saved_notice()
instrument_form.section()

st.subheader("Import log")
log = data.import_log_recent(limit=200)
if log.empty:
    st.write("Nothing has been imported yet.")
else:
    # a file refused or unreadable before its kind was known has none: say so, not "None"
    log = log.assign(kind=log.kind.where(log.kind.notna(), "unknown (file " + log.status + ")"))
    show_table(log, hide_index=True, width="stretch", column_config=LOG_COLUMNS)
    with_rejects = log.loc[log.rejected > 0, "import_id"].tolist()
    if with_rejects:
        chosen = st.selectbox(
            "Rejected rows of import",
            with_rejects,
            format_func=lambda i: f"#{i} {log.set_index('import_id').file_name[i]}",
        )
        rows = data.import_rejects_for(import_id=int(chosen))
        download_csv(
            rows,
            f"Download rejected rows of import #{chosen} (CSV)",
            f"rejected_import_{chosen}.csv",
            key="dl_rejects_log",
            figures=False,
        )

st.subheader("Data quality")
quality = data.data_quality()
if not quality.empty:
    st.caption(
        "Per instrument, among clients with a first dose: how many lack a baseline (no score in the "
        "30 days up to the first dose) or have a baseline but no later score. Counts under 11 show as <11."
    )
    show_table(
        suppressed_counts(quality, ["n_first_dose", "n_without_baseline", "n_without_followup"]),
        hide_index=True,
        width="stretch",
        column_config={
            "instrument": st.column_config.TextColumn("Instrument"),
            "n_first_dose": st.column_config.TextColumn("Clients with a first dose", help="Clients"),
            "n_without_baseline": st.column_config.TextColumn(
                "No baseline", help="Clients with no score in the 30 days up to their first dose"
            ),
            "n_without_followup": st.column_config.TextColumn(
                "Baseline, no later score", help="Clients with a baseline but no score after the first dose"
            ),
        },
    )
coverage = data.instrument_coverage_by_site()
if coverage.empty:
    st.write("No scores stored yet.")
else:
    table = coverage.pivot(index="site", columns="instrument", values="n_clients").fillna(0).astype(int)
    shown = suppressed_counts(table.reset_index(), list(table.columns))
    st.caption("Clients with at least one score of each instrument, by site. Counts under 11 show as <11.")
    show_table(
        shown,
        hide_index=True,
        width="stretch",
        column_config={"site": st.column_config.TextColumn("Site")}
        | {c: st.column_config.TextColumn(c, help=f"Clients with a {c} score") for c in table.columns},
    )
