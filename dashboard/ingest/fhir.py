"""FHIR R4 import: a JSON Bundle (of any type) or a Bulk Data $export NDJSON file (one resource per line), told apart
by content, read as the rows of the input contract and then imported as any file is (dashboard/ingest/importer.py).

- Observation with a LOINC code of an instrument's total (instruments.toml `loinc`) -> a score; its components
  with the instrument's item codes (`loinc_items`) -> the item answers (PHQ-9 item 9 among them).
- MedicationAdministration of ketamine or esketamine (dashboard/fhir.toml [medications]) -> a dosing session, its
  route (SNOMED CT, [routes]) giving the modality and its dose in mg.
- Procedure or Encounter with a code of dashboard/fhir.toml [[sessions]] -> a session of that type (integration,
  preparation, assessment, or dosing).
- Patient (and the other person resources) -> never read, never stored; counted as ignored.
- Everything else -> ignored, counted per resource type and reason.

Every resource is accounted for: made into a row (then imported, rejected by the contract's checks, or an unchanged
duplicate), rejected here with the path in the resource that is wrong, or ignored. A resource is validated against
the R4B models of fhir.resources (R4B is R4 with corrections; the elements read here are the same) before it is
read. The subject (and the performer) are replaced by a keyed HMAC of the reference (pseudonym), so the EHR's
patient id never reaches the store; without a pseudonym key the file is refused."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import os
import tempfile
import tomllib
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dashboard.ingest.limits import MAX_LINE_BYTES, mib

CODES_FILE = Path(__file__).resolve().parent.parent / "fhir.toml"
CODES_VAR = "OUTCOMES_FHIR_CODES"
KEY_VAR = "OUTCOMES_PSEUDONYM_KEY"
MIN_KEY_LENGTH = 16
MAX_BUNDLE_BYTES = 512 * 1024 * 1024  # a Bundle is one JSON document, read whole; larger exports come as NDJSON
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
# resources about a person: never read, never stored
PERSON_TYPES = frozenset({"Patient", "Person", "RelatedPerson", "Practitioner", "PractitionerRole"})
READ_TYPES = ("Observation", "QuestionnaireResponse", "MedicationAdministration", "Procedure", "Encounter")
ORDINAL = ("http://hl7.org/fhir/StructureDefinition/ordinalValue", "http://hl7.org/fhir/StructureDefinition/itemWeight")
# identifying fields: a resource that is read must not carry any of them (DOMAIN.md §7), at its top level or in a
# resource it contains
IDENTIFYING = ("name", "birthDate", "telecom", "address", "identifier")
SCORE_STATUS = frozenset({"final", "amended", "corrected"})
ALPHABET = "bcdfghjkmnpqrstvwxz"  # pseudonyms: consonants only, so no pseudonym reads as a number or a word
PSEUDONYM_LETTERS = 16


class FhirError(ValueError):
    """A FHIR file that cannot be read at all (or no pseudonym key); one line naming the file."""


def looks_like_fhir(path: Path) -> bool:
    """A JSON file whose first object names a resourceType (a Bundle, or the first line of an NDJSON export)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(65536)
    except OSError:
        return False
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"{") and b'"resourceType"' in head


def pseudonym_key() -> str:
    """The clinic's pseudonym key: $OUTCOMES_PSEUDONYM_KEY, else `pseudonym_key` in the [import] table of
    .streamlit/secrets.toml. Refused when missing or shorter than MIN_KEY_LENGTH."""
    from dashboard.store import secret

    key, where = secret(KEY_VAR, "import", "pseudonym_key")
    if not key:
        raise FhirError(
            f"a FHIR import needs a pseudonym key, so that the EHR's patient ids never reach the store: set {KEY_VAR} "
            "(or pseudonym_key in an [import] table of .streamlit/secrets.toml) to a secret of at least "
            f"{MIN_KEY_LENGTH} characters, and keep it: the same key gives the same pseudonyms next time"
        )
    if len(key) < MIN_KEY_LENGTH:
        raise FhirError(f"the pseudonym key ({where}) is too short: use at least {MIN_KEY_LENGTH} characters")
    return key


def pseudonym(key: str, reference: str, prefix: str = "F") -> str:
    """A keyed HMAC-SHA256 of the reference, as 16 consonants (about 68 bits): the same reference and key always
    give the same pseudonym; without the key it cannot be traced back."""
    digest = int.from_bytes(hmac.new(key.encode(), reference.encode(), hashlib.sha256).digest(), "big")
    letters = []
    for _ in range(PSEUDONYM_LETTERS):
        digest, r = divmod(digest, len(ALPHABET))
        letters.append(ALPHABET[r])
    return prefix + "".join(letters)


@dataclass
class Codes:
    """What the import reads, from the instruments in the store and dashboard/fhir.toml."""

    totals: dict[str, str]  # LOINC code -> instrument
    items: dict[str, tuple[str, int]]  # LOINC code -> (instrument, item number)
    n_items: dict[str, int]  # instrument -> items
    medications: dict[str, str]  # RxNorm code -> label
    medication_words: tuple[str, ...]
    routes: dict[str, str]  # SNOMED CT route -> modality
    units: frozenset[str]
    sessions: dict[tuple[str, str], tuple[str, str | None]]  # (system, code) -> (session type, modality)
    answers: dict[str, float] = field(default_factory=dict)  # coded answer -> its number

    @classmethod
    def load(cls, instruments: dict, path: Path | None = None) -> Codes:
        path = Path(path or os.environ.get(CODES_VAR) or CODES_FILE)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise FhirError(f"{path}: the FHIR code file cannot be read ({exc})") from None
        meds = data.get("medications", {})
        return cls(
            totals={i.loinc: i.name for i in instruments.values() if i.loinc},
            items={c: (i.name, n) for i in instruments.values() for n, c in enumerate(i.loinc_items, 1)},
            n_items={i.name: i.n_items or 0 for i in instruments.values()},
            medications={str(k): str(v) for k, v in meds.get("rxnorm", {}).items()},
            medication_words=tuple(str(w).lower() for w in meds.get("words", [])),
            routes={str(k): str(v) for k, v in data.get("routes", {}).items()},
            units=frozenset(str(u).lower() for u in data.get("scores", {}).get("units", [""])),
            sessions={
                (str(s["system"]), str(s["code"])): (str(s["session_type"]), s.get("modality"))
                for s in data.get("sessions", [])
            },
            answers={str(k): float(v) for k, v in data.get("answers", {}).items()},
        )


SESSION_COLUMNS = ("client_id", "session_at", "session_type", "modality", "dose_mg", "clinician_id")
# where a contract column comes from in each resource type (for the messages of rows the contract rejects)
PATHS = {
    "client_id": "subject",
    "session_at": "effective[x] / performed[x] / period.start",
    "session_type": "code",
    "modality": "dosage.route",
    "dose_mg": "dosage.dose",
    "clinician_id": "performer",
    "assessed_at": "effective[x]",
    "instrument": "code",
    "score": "value[x]",
}


@dataclass
class Conversion:
    """A FHIR file read: the rows made (two CSV files of the contract), where each row came from (its entry or line),
    what was rejected here and what was ignored."""

    folder: Path
    unit: str  # "entry" (a Bundle) or "line" (NDJSON)
    n_resources: int = 0
    by_type: Counter = field(default_factory=Counter)
    ignored: Counter = field(default_factory=Counter)  # (resource type, why) -> count
    rejects: list[tuple[int, str, str]] = field(default_factory=list)  # (position, path, reason)
    sessions_from: array = field(default_factory=lambda: array("q"))  # row k of sessions.csv -> position
    scores_from: array = field(default_factory=lambda: array("q"))
    max_items: int = 0

    @property
    def sessions_csv(self) -> Path:
        return self.folder / "sessions.csv"

    @property
    def scores_csv(self) -> Path:
        return self.folder / "scores.csv"

    @property
    def n_ignored(self) -> int:
        return sum(self.ignored.values())

    def ignored_text(self) -> str:
        parts = [f"{n:,} {t} ({why})" for (t, why), n in sorted(self.ignored.items(), key=lambda x: (-x[1], x[0]))]
        return "ignored: " + "; ".join(parts) if parts else ""


def convert(path: Path, name: str, key: str, codes: Codes) -> Conversion:
    """Read the FHIR file into rows (see the module's text). Memory stays bounded for NDJSON (one line at a time;
    rows go to files as they are made); a Bundle is one JSON document, read whole, up to MAX_BUNDLE_BYTES."""
    folder = Path(tempfile.mkdtemp(prefix="fhir-"))
    kind, resources = _resources(path, name)
    out = Conversion(folder=folder, unit="entry" if kind == "bundle" else "line")
    width = max([n for n in codes.n_items.values()] + [0])
    out.max_items = width
    with (
        open(out.sessions_csv, "w", newline="", encoding="utf-8") as s_file,
        open(out.scores_csv, "w", newline="", encoding="utf-8") as c_file,
    ):
        sessions, scores = csv.writer(s_file), csv.writer(c_file)
        sessions.writerow(SESSION_COLUMNS)
        scores.writerow(("client_id", "assessed_at", "instrument", "score", *[f"item{n}" for n in range(1, width + 1)]))
        for position, resource, problem in resources:
            out.n_resources += 1
            if problem is not None:
                out.by_type["(not a resource)"] += 1
                out.rejects.append((position, "", problem))
                continue
            rtype = resource.get("resourceType")
            out.by_type[rtype if isinstance(rtype, str) else "(no resourceType)"] += 1
            try:
                row = _read(resource, rtype, key, codes)
            except _Reject as exc:
                out.rejects.append((position, exc.path, exc.reason))
                continue
            except _Ignore as exc:
                out.ignored[(rtype, exc.why)] += 1
                continue
            if row[0] == "session":
                sessions.writerow(row[1])
                out.sessions_from.append(position)
            else:
                client, when, instrument, score, items = row[1]
                cells = [items.get(n, "") for n in range(1, width + 1)]
                scores.writerow((client, when, instrument, score, *cells))
                out.scores_from.append(position)
    return out


class _Reject(Exception):
    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason


class _Ignore(Exception):
    def __init__(self, why: str):
        self.why = why


def _resources(path: Path, name: str) -> tuple[str, Iterator[tuple[int, dict | None, str | None]]]:
    """('bundle' | 'ndjson', the resources with their position: entry number or line number, and a problem when
    the entry or line is not a resource)."""
    with open(path, "rb") as handle:
        first = handle.readline(MAX_LINE_BYTES + 1)
        rest = handle.read(1).strip() != b"" or bool(handle.read(4096).strip())
    first_text = first.removeprefix(b"\xef\xbb\xbf")
    try:
        first_doc = json.loads(first_text) if len(first) <= MAX_LINE_BYTES else None
    except (ValueError, UnicodeDecodeError):
        first_doc = None
    if isinstance(first_doc, dict) and (first_doc.get("resourceType") != "Bundle" or rest):
        return "ndjson", _ndjson(path, name)
    return "bundle", _bundle(path, name, first_doc if isinstance(first_doc, dict) and not rest else None)


def _ndjson(path: Path, name: str) -> Iterator[tuple[int, dict | None, str | None]]:
    with open(path, "rb") as handle:
        number = 0
        while True:
            line = handle.readline(MAX_LINE_BYTES + 1)
            if not line:
                return
            number += 1
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                while (more := handle.readline(MAX_LINE_BYTES)) and not more.endswith(b"\n"):
                    pass  # the rest of an over-long line, read and dropped piece by piece
                too_long = f"the line is longer than {mib(MAX_LINE_BYTES)}; a resource must fit on one line"
                yield number, None, too_long
                continue
            text = line.strip()
            if number == 1:
                text = text.removeprefix(b"\xef\xbb\xbf")
            if not text:
                continue  # a blank line is not a resource (and not counted)
            try:
                doc = json.loads(text)
            except UnicodeDecodeError:
                yield number, None, "not UTF-8 text"
                continue
            except ValueError as exc:
                yield number, None, f"not valid JSON ({exc.msg} at character {exc.pos + 1})"
                continue
            if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
                yield number, None, "not a FHIR resource (no resourceType)"
                continue
            yield number, doc, None


def _bundle(path: Path, name: str, doc: dict | None) -> Iterator[tuple[int, dict | None, str | None]]:
    if doc is None:
        size = path.stat().st_size
        if size > MAX_BUNDLE_BYTES:
            raise FhirError(
                f"{name}: a FHIR Bundle of {mib(size)} is larger than {mib(MAX_BUNDLE_BYTES)}; export it as Bulk Data "
                "NDJSON (one resource per line), which is read a line at a time"
            )
        try:
            with open(path, encoding="utf-8-sig") as handle:
                doc = json.load(handle)
        except UnicodeDecodeError:
            raise FhirError(f"{name}: not UTF-8 text, so not a FHIR JSON file") from None
        except ValueError as exc:
            raise FhirError(
                f"{name}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); nothing was imported"
            ) from None
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        what = doc.get("resourceType") if isinstance(doc, dict) else None
        raise FhirError(
            f"{name}: a FHIR file must be a Bundle or NDJSON (one resource per line); this is "
            + (f"a single {what!r} resource" if isinstance(what, str) else "JSON without a resourceType")
        )
    entries = doc.get("entry") or []
    if not isinstance(entries, list):
        raise FhirError(f"{name}: Bundle.entry is not a list")
    references = _bundle_references(entries)

    def each():
        for number, entry in enumerate(entries, 1):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                yield number, None, f"Bundle.entry[{number - 1}].resource is not a FHIR resource"
                continue
            yield number, _resolved(resource, references), None

    return each()


def _bundle_references(entries: list) -> dict[str, str]:
    """fullUrl -> 'Type/id' for the Bundle's entries that have an id, so that a reference by fullUrl (urn:uuid:...)
    and one by type and id name the same patient (and get the same pseudonym as in an NDJSON export)."""
    out = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        url, resource = entry.get("fullUrl"), entry.get("resource")
        if isinstance(url, str) and isinstance(resource, dict) and resource.get("id"):
            out[url] = f"{resource.get('resourceType')}/{resource['id']}"
    return out


def _resolved(resource: dict, references: dict[str, str]) -> dict:
    if not references:
        return resource
    for field_name in ("subject", "patient"):
        ref = resource.get(field_name)
        if isinstance(ref, dict) and ref.get("reference") in references:
            resource = {**resource, field_name: {**ref, "reference": references[ref["reference"]]}}
    return resource


# ----------------------------------------------------------------------------------------------------------------


def _read(resource: dict, rtype, key: str, codes: Codes):
    """('session', row) or ('score', (client, when, instrument, score, items)); raises _Reject or _Ignore."""
    if rtype in PERSON_TYPES:
        raise _Ignore("about a person: never read or stored")
    if rtype not in READ_TYPES:
        raise _Ignore("not used")
    _no_identifying(resource, rtype)
    model = _validated(resource, rtype)
    if rtype == "Observation":
        return _observation(model, key, codes)
    if rtype == "QuestionnaireResponse":
        return _questionnaire(model, key, codes)
    if rtype == "MedicationAdministration":
        return _medication(model, resource, key, codes)
    return _session(model, rtype, key, codes)


def _no_identifying(resource: dict, rtype: str) -> None:
    for name in IDENTIFYING:
        if name in resource:
            raise _Reject(
                f"{rtype}.{name}",
                f"holds an identifying field ({rtype}.{name}); export without it (Bulk Data: _elements=...) "
                "so that no identifier leaves the EHR",
            )
    for i, inner in enumerate(resource.get("contained") or []):
        if isinstance(inner, dict):
            for name in IDENTIFYING:
                if name in inner:
                    path = f"{rtype}.contained[{i}].{name}"
                    raise _Reject(path, f"holds an identifying field ({path}); export without it")


def _validated(resource: dict, rtype: str):
    from importlib import import_module

    from pydantic import ValidationError

    model = getattr(import_module(f"fhir.resources.R4B.{rtype.lower()}"), rtype)
    try:
        return model.model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "__root__")
        path = f"{rtype}.{where}" if where else rtype
        raise _Reject(path, f"not a valid R4 {rtype}: {path}: {first.get('msg', 'invalid')}") from None


def _subject(model, rtype: str, key: str, field_name: str = "subject") -> str:
    ref = getattr(model, field_name, None)
    reference = getattr(ref, "reference", None) if ref is not None else None
    if not reference:
        raise _Reject(f"{rtype}.{field_name}", f"missing {field_name} ({rtype}.{field_name}.reference): whose is it?")
    if not reference.startswith("Patient/") and not reference.startswith("urn:"):
        raise _Reject(f"{rtype}.{field_name}", f"{rtype}.{field_name} does not refer to a Patient")
    return pseudonym(key, reference)


def _when(value) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _codings(concept) -> list[tuple[str, str]]:
    if concept is None:
        return []
    concepts = concept if isinstance(concept, list) else [concept]
    return [(c.system or "", c.code or "") for cc in concepts for c in (cc.coding or [])]


def _number(value) -> float | None:
    return float(value) if value is not None else None


def _observation(obs, key: str, codes: Codes):
    if obs.status not in SCORE_STATUS:
        raise _Ignore(f"status {obs.status}, not a final result")
    loinc = [code for system, code in _codings(obs.code) if system == LOINC]
    instrument = next((codes.totals[c] for c in loinc if c in codes.totals), None)
    if instrument is None:
        if any(c in codes.items for c in loinc):
            raise _Ignore("an item answer on its own (items are read as components of the total)")
        categories = {code for _, code in _codings(obs.category)}
        if categories and "survey" not in categories:
            raise _Ignore(f"not a score (category {', '.join(sorted(categories))})")
        shown = ", ".join(loinc) if loinc else "none"
        raise _Reject(
            "Observation.code",
            f"unknown LOINC code ({shown}) in Observation.code: not the total of a known instrument; add its code "
            "to the instrument's `loinc` (instruments.toml)",
        )
    client = _subject(obs, "Observation", key)
    when = _when(obs.effectiveDateTime or obs.effectiveInstant or (obs.effectivePeriod and obs.effectivePeriod.start))
    if when is None:
        raise _Reject("Observation.effective[x]", "no time (Observation.effectiveDateTime or effectivePeriod.start)")
    score = _score_value(obs, "Observation", codes)
    items = {}
    for i, comp in enumerate(obs.component or []):
        found = [codes.items[c] for s, c in _codings(comp.code) if s == LOINC and c in codes.items]
        if not found:
            continue
        owner, number = found[0]
        if owner != instrument:
            raise _Reject(f"Observation.component[{i}].code", f"an item of {owner} in a {instrument} total")
        value = _score_value(comp, f"Observation.component[{i}]", codes, required=True)
        items[number] = _text(value)
    if score is None and not items:
        raise _Reject("Observation.value[x]", "no value (Observation.valueQuantity or valueInteger)")
    return "score", (client, when, instrument, "" if score is None else _text(score), items)


def _score_value(element, where: str, codes: Codes, required: bool = False) -> float | None:
    quantity = getattr(element, "valueQuantity", None)
    if quantity is not None:
        unit = (quantity.code or quantity.unit or "").strip().lower()
        if unit not in codes.units:
            raise _Reject(
                f"{where}.valueQuantity.unit",
                f"unit mismatch: {quantity.code or quantity.unit!r} is not a score unit ({where}.valueQuantity)",
            )
        if quantity.value is None:
            raise _Reject(f"{where}.valueQuantity.value", f"no value ({where}.valueQuantity.value)")
        return _number(quantity.value)
    if getattr(element, "valueInteger", None) is not None:
        return float(element.valueInteger)
    kinds = ("valueString", "valueCodeableConcept", "valueBoolean")
    other = [n for n in kinds if getattr(element, n, None) is not None]
    if other:
        raise _Reject(f"{where}.{other[0]}", f"the value is not a number ({where}.{other[0]})")
    if required:
        raise _Reject(f"{where}.value[x]", f"no value ({where}.value[x])")
    return None


def _questionnaire(qr, key: str, codes: Codes):
    """A QuestionnaireResponse whose items' linkIds are an instrument's LOINC codes (`44250-9` or `/44250-9`, at any
    depth): its item answers, and its total when an item carries the total's code (else the items' sum, as in a
    file of the contract)."""
    if qr.status not in ("completed", "amended"):
        raise _Ignore(f"status {qr.status}, not completed")
    answers: dict[str, tuple[str, object]] = {}

    def walk(items, path):
        for i, item in enumerate(items or []):
            here = f"{path}.item[{i}]"
            code = (item.linkId or "").rsplit("/", 1)[-1]
            if (code in codes.totals or code in codes.items) and item.answer:
                answers[code] = (f"{here}.answer[0]", item.answer[0])
            walk(item.item, here)

    walk(qr.item, "QuestionnaireResponse")
    owners = {codes.items[c][0] for c in answers if c in codes.items} | {
        codes.totals[c] for c in answers if c in codes.totals
    }
    if not owners:
        raise _Ignore("no item of a known instrument (linkId = an instrument's LOINC code)")
    if len(owners) > 1:
        raise _Reject("QuestionnaireResponse.item", f"items of several instruments ({', '.join(sorted(owners))})")
    instrument = owners.pop()
    client = _subject(qr, "QuestionnaireResponse", key)
    when = _when(qr.authored)
    if when is None:
        raise _Reject("QuestionnaireResponse.authored", "no time (QuestionnaireResponse.authored)")
    score, items = None, {}
    for code, (where, answer) in answers.items():
        value = _answer_number(answer, where, codes)
        if code in codes.totals:
            score = value
        else:
            items[codes.items[code][1]] = _text(value)
    return "score", (client, when, instrument, "" if score is None else _text(score), items)


def _answer_number(answer, where: str, codes: Codes) -> float:
    for name in ("valueInteger", "valueDecimal"):
        if getattr(answer, name, None) is not None:
            return float(getattr(answer, name))
    if answer.valueQuantity is not None and answer.valueQuantity.value is not None:
        return float(answer.valueQuantity.value)
    coding = answer.valueCoding
    if coding is not None:
        for ext in coding.extension or []:
            if ext.url in ORDINAL and ext.valueDecimal is not None:
                return float(ext.valueDecimal)
        if coding.code in codes.answers:
            return codes.answers[coding.code]
        raise _Reject(
            f"{where}.valueCoding",
            f"the answer {coding.code!r} has no number ({where}.valueCoding: no ordinalValue, and not in fhir.toml "
            "[answers])",
        )
    raise _Reject(f"{where}.value[x]", f"the answer is not a number ({where}.value[x])")


def _text(value: float) -> str:
    return f"{value:g}" if value == int(value) else repr(value)


MASS = {"mg": 1.0, "g": 1000.0, "ug": 0.001, "mcg": 0.001, "µg": 0.001}


def _medication(med, resource: dict, key: str, codes: Codes):
    label = _medication_label(med, resource, codes)
    if label is None:
        raise _Ignore("not ketamine or esketamine")
    if med.status != "completed":
        raise _Ignore(f"status {med.status}, not given")
    client = _subject(med, "MedicationAdministration", key)
    when = _when(med.effectiveDateTime or (med.effectivePeriod and med.effectivePeriod.start))
    if when is None:
        raise _Reject("MedicationAdministration.effective[x]", "no time (MedicationAdministration.effective[x])")
    modality, dose = "", ""
    dosage = med.dosage
    if dosage is not None and dosage.route is not None:
        routes = [c for s, c in _codings(dosage.route) if s == SNOMED]
        known = [codes.routes[c] for c in routes if c in codes.routes]
        if not known:
            shown = ", ".join(routes) if routes else "no SNOMED CT code"
            raise _Reject(
                "MedicationAdministration.dosage.route",
                f"route not known ({shown}) in MedicationAdministration.dosage.route; add it to fhir.toml [routes]",
            )
        modality = known[0]
    elif label == "esketamine":
        modality = "Intranasal esketamine"
    if dosage is not None and dosage.dose is not None and dosage.dose.value is not None:
        unit = (dosage.dose.code or dosage.dose.unit or "").strip().lower()
        if unit not in MASS:
            raise _Reject(
                "MedicationAdministration.dosage.dose",
                f"dose unit {dosage.dose.code or dosage.dose.unit!r} is not a mass (mg, g, ug) in "
                "MedicationAdministration.dosage.dose; a weight-based dose must be given in mg",
            )
        dose = _text(float(dosage.dose.value) * MASS[unit])
    clinician = _performer(med.performer, "actor", key)
    return "session", (client, when, "dosing", modality, dose, clinician)


def _medication_label(med, resource: dict, codes: Codes) -> str | None:
    concept = med.medicationCodeableConcept
    if concept is None and med.medicationReference is not None:
        ref = med.medicationReference.reference or ""
        for inner in resource.get("contained") or []:
            if isinstance(inner, dict) and ref == f"#{inner.get('id')}":
                from fhir.resources.R4B.codeableconcept import CodeableConcept

                concept = CodeableConcept.model_validate(inner.get("code") or {})
    if concept is None:
        return None
    for system, code in _codings(concept):
        if system == RXNORM and code in codes.medications:
            return codes.medications[code]
    words = " ".join([concept.text or ""] + [c.display or "" for c in concept.coding or []]).lower()
    return next((w for w in codes.medication_words if w in words), None) and (
        "esketamine" if "esketamine" in words or "spravato" in words else "ketamine"
    )


def _performer(performers, attribute: str, key: str) -> str:
    for p in performers or []:
        ref = getattr(getattr(p, attribute, None), "reference", None)
        if ref:
            return pseudonym(key, ref, prefix="C")
    return ""


def _session(model, rtype: str, key: str, codes: Codes):
    concepts = model.code if rtype == "Procedure" else model.type
    found = [codes.sessions[sc] for sc in _codings(concepts) if sc in codes.sessions]
    if not found:
        raise _Ignore("no session code of fhir.toml")
    done = "completed" if rtype == "Procedure" else "finished"
    if model.status != done:
        raise _Ignore(f"status {model.status}, not {done}")
    session_type, modality = found[0]
    client = _subject(model, rtype, key)
    if rtype == "Procedure":
        when = _when(model.performedDateTime or (model.performedPeriod and model.performedPeriod.start))
        clinician = _performer(model.performer, "actor", key)
        where = "Procedure.performed[x]"
    else:
        when = _when(model.period and model.period.start)
        clinician = _performer(model.participant, "individual", key)
        where = "Encounter.period.start"
    if when is None:
        raise _Reject(where, f"no time ({where})")
    return "session", (client, when, session_type, modality or "", "", clinician)
