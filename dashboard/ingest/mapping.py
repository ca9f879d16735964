"""Column mappings: a file whose columns are named anything imported through a mapping of its columns onto the
contract (client_id=PatientCode, ...) and of its values onto the vocabularies (modality "Ketamine IV 0.5mg/kg" =
IV infusion), given on the command line (--map, --map-value) or saved under a name in the store (--mapping NAME,
and the Data page) so next week's export imports in one step.

A mapping renames the file's columns before the contract reads them, so every check still applies: a column
whose own name marks it as an identifier cannot be mapped (the name decides, whatever it is mapped to), and every
value is checked as in any file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dashboard.ingest.contract import (
    _LOOKUP,
    FIELDS,
    MODALITIES,
    SESSION_TYPES,
    ContractError,
    is_identifier_column,
)
from dashboard.instruments import normalise

TARGETS = tuple(dict.fromkeys(f for kind in FIELDS.values() for f in kind))  # every contract field, in order
VALUE_FIELDS = {"modality": tuple(MODALITIES), "session_type": tuple(SESSION_TYPES)}
# fields whose values may be replaced by a keyed HMAC on import, and the FHIR reference each value stands for (so
# that an id pseudonymised from a CSV and the same patient's FHIR subject get the same pseudonym)
PSEUDONYMISED = {"client_id": ("Patient/", "F"), "clinician_id": ("Practitioner/", "C")}
MAX_NAME = 80


class MappingError(ValueError):
    """A mapping that cannot be used; the message names the column or value."""


@dataclass
class ColumnMap:
    """field -> the file's column; for modality and session type, the file's value -> the vocabulary's term."""

    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    pseudonymise: list[str] = field(default_factory=list)  # fields whose values are replaced by keyed pseudonyms

    def __bool__(self) -> bool:
        return bool(self.columns or self.values or self.pseudonymise)

    def check(self) -> ColumnMap:
        for target, source in self.columns.items():
            if target not in TARGETS and not _is_item(target):
                raise MappingError(
                    f"the mapping's target {target!r} (for column {source!r}) is not a field of the contract; "
                    f"use one of {', '.join(TARGETS)}, or item1, item2, ..."
                )
            if not str(source).strip():
                raise MappingError(f"the mapping gives {target} an empty column name")
        sources = list(self.columns.values())
        for source in set(sources):
            if sources.count(source) > 1:
                both = [t for t, s in self.columns.items() if s == source]
                raise MappingError(f"column {source!r} is mapped to {' and '.join(both)}; map it to one field")
        for target in self.pseudonymise:
            if target not in PSEUDONYMISED:
                raise MappingError(f"only {', '.join(PSEUDONYMISED)} can be pseudonymised, not {target!r}")
        for target, table in self.values.items():
            if target not in VALUE_FIELDS:
                raise MappingError(f"values can be mapped for {', '.join(VALUE_FIELDS)}, not {target!r}")
            for value, term in table.items():
                if term not in VALUE_FIELDS[target]:
                    raise MappingError(
                        f"{target} value {value!r} is mapped to {term!r}, which is not one of "
                        f"{', '.join(VALUE_FIELDS[target])}"
                    )
        return self

    def to_json(self) -> str:
        return json.dumps(
            {"columns": self.columns, "values": self.values, "pseudonymise": self.pseudonymise}, sort_keys=True
        )

    @classmethod
    def from_json(cls, text: str) -> ColumnMap:
        data = json.loads(text)
        return cls(
            dict(data.get("columns", {})),
            {k: dict(v) for k, v in data.get("values", {}).items()},
            list(data.get("pseudonymise", [])),
        )

    def renamed(self, name: str, headers: list[str]) -> list[str]:
        """The file's headers with the mapped columns renamed to their fields; a column the mapping names that the
        file lacks, or one whose name marks an identifier, is a ContractError naming it."""
        if not self.columns:
            return list(headers)
        where = {h: j for j, h in enumerate(headers)}
        stripped = {str(h).strip(): j for j, h in enumerate(headers)}
        out = list(headers)
        for target, source in self.columns.items():
            j = where.get(source, stripped.get(str(source).strip()))
            if j is None:
                shown = ", ".join(repr(h) for h in headers[:12]) + (" …" if len(headers) > 12 else "")
                raise ContractError(
                    f"{name}: the mapping gives {target} from column {source!r}, which the file does not have "
                    f"(its columns: {shown}). Nothing was imported."
                )
            if is_identifier_column(source):
                raise ContractError(
                    f"{name}: column {source!r} carries direct identifiers by its name; a mapping cannot import it "
                    f"(as {target}). Nothing was imported."
                )
            out[j] = target
        mapped = set(self.columns)
        for j, h in enumerate(headers):
            # a column the mapping leaves alone whose name means a field the mapping fills from another column
            if out[j] == h and _LOOKUP.get(normalise(h), normalise(h)) in mapped and self.columns.get(h) != h:
                out[j] = f"(not used) {h}"
        return out

    def value_labels(self, target: str) -> list[tuple[str, str]]:
        """(normalised value, term) pairs to add to a vocabulary."""
        return [(normalise(v), t) for v, t in self.values.get(target, {}).items()]


def _is_item(target: str) -> bool:
    return target.startswith("item") and target[4:].isdigit() and int(target[4:]) >= 1


def _ident(name: str) -> str:
    """A column name from a file as a quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def pseudonymise_raw(con, mapping, fields: list[str]) -> None:
    """Replace the values of the file's columns for `fields` (client_id, clinician_id) in the relation _raw by
    keyed pseudonyms (dashboard/ingest/fhir.py: pseudonym), before any check reads them: the EHR's ids never
    reach the store, and a value gives the pseudonym its FHIR reference (Patient/<value>) would."""
    import duckdb
    import pyarrow as pa

    from dashboard.ingest import fhir

    key = fhir.pseudonym_key()
    replaced = {}
    for i, target in enumerate(fields):
        column = mapping.fields.get(target)
        if column is None:
            continue
        prefix, letter = PSEUDONYMISED[target]
        # a column's name comes from the file: it is quoted as an identifier (a name cannot be a bound parameter),
        # and the lookup tables are named by position, never by it
        found = con.table("_raw").select(duckdb.ColumnExpression(column).cast("VARCHAR")).fetchall()
        texts = sorted({v.strip() for (v,) in found if v is not None})
        made = [fhir.pseudonym(key, prefix + t, letter) if t else None for t in texts]
        table = pa.table({"raw": pa.array(texts, pa.string()), "p": pa.array(made, pa.string())})
        con.register(f"_pseudo_{i}", table)
        replaced[_ident(column)] = f"_pseudo_{i}"
    if not replaced:
        return
    # identifiers only, quoted (_ident) or the module's own table names: no value from the file reaches the SQL text
    joins = " ".join(f"left join {t} on {t}.raw = trim(r.{c}::varchar)" for c, t in replaced.items())
    swap = ", ".join(f"{t}.p as {c}" for c, t in replaced.items())
    con.execute(f"create or replace temp table _raw_pseudo as select r.* replace ({swap}) from _raw r {joins}")
    con.unregister("_raw")
    con.execute("drop view if exists temp._raw")
    con.execute("create temp view _raw as select * from _raw_pseudo")
    for t in replaced.values():
        con.unregister(t)


def parse(pairs: list[str] | None, value_pairs: list[str] | None = None) -> ColumnMap:
    """--map "client_id=PatientCode,session_at=Visit Date" (repeatable) and --map-value
    "modality:Ketamine IV 0.5mg/kg=IV infusion" (repeatable)."""
    out = ColumnMap()
    for text in pairs or []:
        for part in text.split(","):
            if not part.strip():
                continue
            target, sep, source = part.partition("=")
            if not sep:
                raise MappingError(f"--map {part.strip()!r}: write field=column, e.g. client_id=PatientCode")
            out.columns[target.strip()] = source.strip()
    for text in value_pairs or []:
        target, sep, rest = text.partition(":")
        value, sep2, term = rest.rpartition("=")
        if not sep or not sep2 or not value.strip():
            raise MappingError(f"--map-value {text!r}: write field:value=term, e.g. 'modality:Ketamine IV=IV infusion'")
        out.values.setdefault(target.strip(), {})[value.strip()] = term.strip()
    return out.check()


def save(con, name: str, mapping: ColumnMap) -> None:
    """Keep a mapping under a name (replacing one of that name). Call inside the caller's transaction."""
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME:
        raise MappingError(f"a mapping needs a name of 1 to {MAX_NAME} characters")
    if name[0] in "=+-@":
        raise MappingError("a mapping's name may not start with =, +, - or @")
    mapping.check()
    con.execute("delete from column_mappings where name = $n", {"n": name})
    con.execute(
        "insert into column_mappings values ($n, $spec, $at)",
        {"n": name, "spec": mapping.to_json(), "at": datetime.now(UTC).replace(tzinfo=None)},
    )


def load(con, name: str) -> ColumnMap:
    row = con.execute("select spec from column_mappings where name = $n", {"n": name}).fetchall()
    if not row:
        known = names(con)
        raise MappingError(
            f"no saved mapping named {name!r}; "
            + (f"saved: {', '.join(known)}" if known else "none is saved yet (--save-mapping NAME)")
        )
    return ColumnMap.from_json(row[0][0]).check()


def names(con) -> list[str]:
    return [r[0] for r in con.execute("select name from column_mappings order by name").fetchall()]
