"""The instrument registry: built-in definitions from instruments.toml, user definitions from TOML files,
both stored in the database's `instruments` table so every later command knows them."""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

BUILTIN_FILE = Path(__file__).with_name("instruments.toml")


LOINC = re.compile(r"[0-9]{1,7}-[0-9]")


class InstrumentError(ValueError):
    """An instrument definition file that cannot be used."""


# The imports' rule for free text (dashboard/ingest/validation/common.py, FORMULA_REASON): a label that starts with =
# (after any spaces) would be run as a formula by a spreadsheet opening any export that holds it
FORMULA_START = re.compile(r"^\s*=")


def _no_formula(where: str, what: str, text: str) -> None:
    if FORMULA_START.match(text):
        raise InstrumentError(
            f"{where}: {what} starts with =, which a spreadsheet would run as a formula; remove the ="
        )


def normalise(label: str) -> str:
    """A label folded for matching: lower case, no spaces, dashes, underscores or slashes."""
    return re.sub(r"[\s\-_/]+", "", str(label)).lower()


@dataclass(frozen=True)
class Instrument:
    name: str
    min_score: float
    max_score: float
    remission_max: float | None = None
    remission_label: str | None = None
    reliable_change: float | None = None
    reliable_change_basis: str | None = None
    recall_days: int | None = None
    n_items: int | None = None
    item_min: float | None = None
    item_max: float | None = None
    safety_item: int | None = None
    aliases: tuple[str, ...] = ()
    bands: tuple[tuple[float, str], ...] = field(default=())
    is_builtin: bool = False
    loinc: str | None = None  # the LOINC code of the total score (a FHIR Observation's code)
    loinc_items: tuple[str, ...] = ()  # the LOINC codes of items 1..n (Observation.component codes)

    def row(self) -> dict:
        """The instrument as a row of the `instruments` table."""
        return {
            "name": self.name,
            "min_score": self.min_score,
            "max_score": self.max_score,
            "remission_max": self.remission_max,
            "remission_label": self.remission_label,
            "reliable_change": self.reliable_change,
            "reliable_change_basis": self.reliable_change_basis,
            "recall_days": self.recall_days,
            "n_items": self.n_items,
            "item_min": self.item_min,
            "item_max": self.item_max,
            "safety_item": self.safety_item,
            "aliases": list(self.aliases),
            "bands": [{"max": m, "label": lab} for m, lab in self.bands],
            "is_builtin": self.is_builtin,
            "loinc": self.loinc,
            "loinc_items": list(self.loinc_items),
        }


def _number(defn: dict, key: str, where: str, required: bool = False) -> float | None:
    value = defn.get(key)
    if value is None:
        if required:
            raise InstrumentError(f"{where}: '{key}' is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InstrumentError(f"{where}: '{key}' must be a number, got {value!r}")
    return float(value)


def _loinc(defn: dict, where: str, n_items: float | None) -> tuple[str | None, list[str]]:
    """The LOINC codes of the total and of items 1..n (the FHIR import reads them)."""
    loinc = defn.get("loinc")
    if loinc is not None and not (isinstance(loinc, str) and LOINC.fullmatch(loinc)):
        raise InstrumentError(f"{where}: 'loinc' must be a LOINC code such as \"44261-6\", got {loinc!r}")
    items = defn.get("loinc_items", [])
    if not isinstance(items, list) or not all(isinstance(c, str) and LOINC.fullmatch(c) for c in items):
        raise InstrumentError(f"{where}: 'loinc_items' must be a list of LOINC codes, one per item in order")
    if items and len(items) != (n_items or 0):
        raise InstrumentError(
            f"{where}: 'loinc_items' has {len(items)} codes; the instrument has {int(n_items or 0)} items"
        )
    return loinc, items


def _parse(name: str, defn: dict, source: str, builtin: bool) -> Instrument:
    where = f"{source}: instrument {name!r}"
    if not isinstance(defn, dict):
        raise InstrumentError(f"{where}: expected a table of fields")
    _no_formula(where, "the name", name)
    known = {
        "min",
        "max",
        "remission_max",
        "remission_label",
        "reliable_change",
        "reliable_change_sd",
        "reliable_change_r",
        "recall_days",
        "items",
        "item_min",
        "item_max",
        "safety_item",
        "aliases",
        "bands",
        "loinc",
        "loinc_items",
    }
    unknown = sorted(set(defn) - known)
    if unknown:
        raise InstrumentError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    lo = _number(defn, "min", where, required=True)
    hi = _number(defn, "max", where, required=True)
    if lo >= hi:
        raise InstrumentError(f"{where}: min ({lo:g}) must be below max ({hi:g})")
    remission_max = _number(defn, "remission_max", where)
    if remission_max is not None and not lo <= remission_max <= hi:
        raise InstrumentError(f"{where}: remission_max must lie within {lo:g}–{hi:g}")
    reliable = _number(defn, "reliable_change", where)
    basis = "points (registry)" if reliable is not None else None
    sd, r = _number(defn, "reliable_change_sd", where), _number(defn, "reliable_change_r", where)
    if reliable is None and sd is not None and r is not None:
        if not 0 <= r < 1 or sd <= 0:
            raise InstrumentError(f"{where}: reliable_change_sd must be > 0 and reliable_change_r in [0, 1)")
        # Jacobson–Truax minimum reliable raw change: 1.96 · SD · √(2(1 − r)) (DOMAIN.md §2).
        reliable = round(1.96 * sd * math.sqrt(2 * (1 - r)), 2)
        basis = f"Jacobson–Truax, SD {sd:g}, reliability {r:g}"
    recall = _number(defn, "recall_days", where)
    n_items = _number(defn, "items", where)
    item_min, item_max = _number(defn, "item_min", where), _number(defn, "item_max", where)
    if n_items is not None and (n_items < 1 or n_items != int(n_items) or item_min is None or item_max is None):
        raise InstrumentError(f"{where}: 'items' must be a positive whole number with item_min and item_max")
    safety = _number(defn, "safety_item", where)
    if safety is not None and (n_items is None or not 1 <= safety <= n_items or safety != int(safety)):
        raise InstrumentError(f"{where}: 'safety_item' must be one of the instrument's item numbers")
    aliases = defn.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        raise InstrumentError(f"{where}: 'aliases' must be a list of non-empty strings")
    for i, alias in enumerate(aliases):
        _no_formula(where, f"alias {i + 1}", alias)
    bands = []
    for i, band in enumerate(defn.get("bands", [])):
        if not isinstance(band, dict) or "max" not in band or "label" not in band:
            raise InstrumentError(f"{where}: band {i + 1} needs 'max' and 'label'")
        _no_formula(where, f"the label of band {i + 1}", str(band["label"]))
        bands.append((float(band["max"]), str(band["label"])))
    if bands and [b[0] for b in bands] != sorted(b[0] for b in bands):
        raise InstrumentError(f"{where}: bands must be in increasing order of 'max'")
    if defn.get("remission_label") is not None:
        _no_formula(where, "remission_label", str(defn["remission_label"]))
    loinc, loinc_items = _loinc(defn, where, n_items)
    return Instrument(
        name=name,
        min_score=lo,
        max_score=hi,
        remission_max=remission_max,
        remission_label=defn.get("remission_label")
        or (f"{name} <= {remission_max:g}" if remission_max is not None else None),
        reliable_change=reliable,
        reliable_change_basis=basis,
        recall_days=int(recall) if recall is not None else None,
        n_items=int(n_items) if n_items is not None else None,
        item_min=item_min,
        item_max=item_max,
        safety_item=int(safety) if safety is not None else None,
        aliases=tuple(aliases),
        bands=tuple(bands),
        is_builtin=builtin,
        loinc=loinc,
        loinc_items=tuple(loinc_items),
    )


def parse_file(path: str | Path, builtin: bool = False) -> list[Instrument]:
    """Read a TOML instrument file; raise InstrumentError naming the file and the instrument."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InstrumentError(f"{path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InstrumentError(f"{path}: not a valid TOML file ({exc})") from None
    table = data.get("instruments")
    if not isinstance(table, dict) or not table:
        raise InstrumentError(f'{path}: no [instruments."NAME"] tables found')
    return [_parse(name, defn, path.name, builtin) for name, defn in table.items()]


def builtin() -> list[Instrument]:
    return parse_file(BUILTIN_FILE, builtin=True)


def store(con: duckdb.DuckDBPyConnection, instruments: list[Instrument]) -> None:
    """Insert or update instrument definitions. A built-in instrument cannot be redefined by a user file,
    and a user name may not collide with another instrument's name or alias."""
    existing = load(con)
    labels = {}
    for inst in existing.values():
        for label in (inst.name, *inst.aliases):
            labels[normalise(label)] = inst.name
    for inst in instruments:
        old = existing.get(inst.name)
        if old is not None and old.is_builtin and not inst.is_builtin:
            raise InstrumentError(f"instrument {inst.name!r} is built in and cannot be redefined")
        for label in (inst.name, *inst.aliases):
            owner = labels.get(normalise(label))
            if owner is not None and owner != inst.name:
                raise InstrumentError(f"instrument {inst.name!r}: label {label!r} already names {owner!r}")
        con.execute("delete from instruments where name = $name", {"name": inst.name})
        con.execute(_INSERT, inst.row())


_INSERT = """
insert into instruments (name, min_score, max_score, remission_max, remission_label, reliable_change,
    reliable_change_basis, recall_days, n_items, item_min, item_max, safety_item, aliases, bands, is_builtin, loinc,
    loinc_items)
values ($name, $min_score, $max_score, $remission_max, $remission_label, $reliable_change,
    $reliable_change_basis, $recall_days, $n_items, $item_min, $item_max, $safety_item, $aliases, $bands,
    $is_builtin, $loinc, $loinc_items)
"""


def load(con: duckdb.DuckDBPyConnection) -> dict[str, Instrument]:
    """All instruments known to this database, by canonical name."""
    rows = con.execute("select * from instruments order by name").fetchall()
    cols = [d[0] for d in con.description]
    out = {}
    for values in rows:
        r = dict(zip(cols, values, strict=True))
        out[r["name"]] = Instrument(
            name=r["name"],
            min_score=r["min_score"],
            max_score=r["max_score"],
            remission_max=r["remission_max"],
            remission_label=r["remission_label"],
            reliable_change=r["reliable_change"],
            reliable_change_basis=r["reliable_change_basis"],
            recall_days=r["recall_days"],
            n_items=r["n_items"],
            item_min=r["item_min"],
            item_max=r["item_max"],
            safety_item=r["safety_item"],
            aliases=tuple(r["aliases"] or ()),
            bands=tuple((b["max"], b["label"]) for b in (r["bands"] or ())),
            is_builtin=r["is_builtin"],
            loinc=r.get("loinc"),
            loinc_items=tuple(r.get("loinc_items") or ()),
        )
    return out


def resolver(instruments: dict[str, Instrument]) -> dict[str, str]:
    """Normalised label (name or alias) -> canonical name."""
    out = {}
    for inst in instruments.values():
        for label in (inst.name, *inst.aliases):
            out[normalise(label)] = inst.name
    return out
