"""The Data page's instruments: the ones the store knows, and a clinic's own defined there, from a TOML file in the
registry's format or from a form, checked by the same rules as the TOML (dashboard/instruments.py) and stored
through the writer, so the next import (and every page) knows them."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import access, data, derive, instruments, store, writer
from dashboard.escape import md
from dashboard.views.common import table as show_table


def known_table(known: dict[str, instruments.Instrument]) -> pd.DataFrame:
    rows = []
    for i in sorted(known.values(), key=lambda i: (not i.is_builtin, i.name)):
        rows.append(
            {
                "Instrument": i.name,
                "Range": f"{i.min_score:g}–{i.max_score:g}",
                "Remission": i.remission_label or "–",
                "Reliable change": f"{i.reliable_change:g} points" if i.reliable_change is not None else "–",
                "Items": f"{i.n_items}" if i.n_items else "–",
                "LOINC": i.loinc or "–",
                "Also called": ", ".join(i.aliases) or "–",
                "Source": "built in" if i.is_builtin else "this clinic",
            }
        )
    return pd.DataFrame(rows)


def _number(text: str, what: str, whole: bool = False) -> float | int | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise instruments.InstrumentError(f"{what} must be a number, got {text!r}") from None
    return int(value) if whole and value == int(value) else value


def from_form(values: dict) -> instruments.Instrument:
    """An instrument from the form's fields, checked as a TOML definition is."""
    name = (values.get("name") or "").strip()
    if not name:
        raise instruments.InstrumentError("the instrument needs a name")
    defn: dict = {}
    for key, what, whole in (
        ("min", "min", False),
        ("max", "max", False),
        ("remission_max", "remission_max", False),
        ("reliable_change", "reliable_change", False),
        ("recall_days", "recall_days", True),
        ("items", "items", True),
        ("item_min", "item_min", False),
        ("item_max", "item_max", False),
        ("safety_item", "safety_item", True),
    ):
        number = _number(values.get(key, ""), what, whole)
        if number is not None:
            defn[key] = number
    if (values.get("remission_label") or "").strip():
        defn["remission_label"] = values["remission_label"].strip()
    aliases = [a.strip() for a in (values.get("aliases") or "").split(",") if a.strip()]
    if aliases:
        defn["aliases"] = aliases
    bands = []
    for part in (values.get("bands") or "").split(";"):
        if not part.strip():
            continue
        top, sep, label = part.partition(":")
        if not sep:
            raise instruments.InstrumentError(f"band {part.strip()!r}: write max:label, e.g. 15:below threshold")
        bands.append({"max": _number(top, f"the max of band {part.strip()!r}"), "label": label.strip()})
    if bands:
        defn["bands"] = bands
    if (values.get("loinc") or "").strip():
        defn["loinc"] = values["loinc"].strip()
    return instruments._parse(name, defn, "the form", builtin=False)


def _store(path: Path, new: list[instruments.Instrument]) -> None:
    """Store the definitions in one transaction; rebuild the derived tables when stored scores use one of them (its
    thresholds decide their outcomes), else only note the instruments they were built with."""
    with writer.writing(path, wait=30) as con:
        con.execute("begin")
        try:
            instruments.store(con, new)
            names = [i.name for i in new]
            used = con.execute("select count(*) from scores where list_contains($n, instrument)", {"n": names})
            if used.fetchone()[0]:
                derive.rebuild(con)
            else:
                derive.note_instruments(con)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise


def section() -> None:
    st.subheader("Instruments")
    with data.reading() as con:
        known = instruments.load(con)
    show_table(known_table(known), hide_index=True, width="stretch")
    if not access.can_import():
        return
    into_own = data.showing_demo_instead()  # the demo is never changed: a clinic's instrument goes into its store
    path = data.import_target()
    with st.expander("Add or change an instrument of this clinic"):
        st.caption(
            "Upload a TOML file in the registry's format (see data/examples/instruments.toml), or fill in the form. "
            "Built-in instruments cannot be changed; a clinic's own one is replaced whole by a new definition."
        )
        upload = st.file_uploader("Instrument file (TOML)", type=["toml"], key="instrument_file")
        if upload is not None and st.button("Add the file's instruments", key="instrument_file_add"):
            with tempfile.TemporaryDirectory() as tmp:
                file = Path(tmp) / "instruments.toml"
                file.write_bytes(upload.getvalue())
                try:
                    new = instruments.parse_file(file)
                    _store(path, new)
                except (instruments.InstrumentError, store.StoreError) as exc:
                    st.error(md(str(exc).replace(str(file), upload.name).replace(file.name, upload.name)))
                else:
                    _done([i.name for i in new], into_own)
        with st.form("instrument_form"):
            cells = st.columns(3)
            values = {
                "name": cells[0].text_input("Name", placeholder="e.g. CES-D"),
                "min": cells[1].text_input("Lowest score", placeholder="0"),
                "max": cells[2].text_input("Highest score", placeholder="60"),
                "remission_max": cells[0].text_input("Remitted at or under", help="remission_max"),
                "reliable_change": cells[1].text_input("Reliable change (points)"),
                "recall_days": cells[2].text_input("Recall period (days)"),
                "items": cells[0].text_input("Items", help="the number of items (item-level data: total = sum)"),
                "item_min": cells[1].text_input("Lowest item answer"),
                "item_max": cells[2].text_input("Highest item answer"),
                "safety_item": cells[0].text_input("Safety item", help="the item whose answer > 0 flags risk"),
                "loinc": cells[1].text_input("LOINC code of the total", placeholder="e.g. 12345-6"),
                "remission_label": cells[2].text_input("What remission means", placeholder="e.g. CES-D < 16"),
                "aliases": st.text_input("Also called (comma-separated)", placeholder="cesd, ces_d"),
                "bands": st.text_input("Severity bands (max:label; …)", placeholder="15:below threshold; 60:high"),
            }
            if st.form_submit_button("Save the instrument"):
                try:
                    new = from_form(values)
                    _store(path, [new])
                except (instruments.InstrumentError, store.StoreError) as exc:
                    st.error(md(str(exc)))
                else:
                    _done([new.name], into_own)


def _done(names: list[str], into_own: bool) -> None:
    if into_own:
        data.show_clinic()
    data.after_import()
    st.session_state["instruments_saved"] = names
    st.rerun()


def saved_notice() -> None:
    names = st.session_state.pop("instruments_saved", None)
    if names:
        st.success(f"Saved: {md(', '.join(names))}. Files with their scores can be imported now.")
