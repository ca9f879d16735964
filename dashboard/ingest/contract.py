"""The input contract: which columns each kind of file has, their aliases, and which columns are refused."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from dashboard.instruments import normalise

KINDS = ("clients", "sessions", "scores", "scores_wide")

# canonical field -> aliases (compared after normalise(): lower case, no spaces, dashes, underscores).
ALIASES: dict[str, tuple[str, ...]] = {
    "client_id": (
        "clientid",
        "client",
        "clientcode",
        "patientid",
        "patient",
        "subjectid",
        "subject",
        "recordid",
        "participantid",
        "participant",
        "pseudonym",
        "pseudoid",
    ),
    "site": ("site", "siteid", "clinic", "location"),
    "condition": ("condition", "diagnosis", "primarycondition", "indication"),
    "age_band": ("ageband", "agegroup", "agerange"),
    "sex": ("sex", "gender"),
    "prior_treatments": ("priortreatments", "priorfailedtreatments", "failedtreatments", "priortrials"),
    "session_at": ("sessionat", "sessiondate", "sessiondatetime", "sessiontime", "dosedate", "visitdate"),
    "assessed_at": ("assessedat", "assessmentdate", "assessmentdatetime", "scoredate", "completedat", "surveydate"),
    "time": ("date", "datetime", "timestamp", "time", "when"),
    "session_type": ("sessiontype", "type", "visittype", "sessionkind"),
    "modality": ("modality", "route", "ketaminemodality", "treatmentmodality"),
    "dose_mg": ("dosemg", "dose", "dosage", "doseinmg", "ketaminedosemg"),
    "clinician_id": (
        "clinicianid",
        "clinician",
        "provider",
        "providerid",
        "therapist",
        "therapistid",
        "prescriber",
        "prescriberid",
    ),
    "session_id": ("sessionid", "visitid", "encounterid"),
    "instrument": ("instrument", "measure", "scale", "questionnaire", "instrumentname"),
    "score": ("score", "total", "totalscore", "value", "sum"),
}
_LOOKUP = {alias: canon for canon, aliases in ALIASES.items() for alias in aliases}
_ITEM = re.compile(r"^(?:item|q|question)(\d{1,3})$")

FIELDS = {
    "clients": ("client_id", "site", "condition", "age_band", "sex", "prior_treatments"),
    "sessions": (
        "client_id",
        "session_at",
        "session_type",
        "modality",
        "dose_mg",
        "clinician_id",
        "site",
        "session_id",
    ),
    "scores": ("client_id", "assessed_at", "instrument", "score", "session_id"),
    "scores_wide": ("client_id", "assessed_at", "session_id"),
}
REQUIRED = {
    "clients": ("client_id",),
    "sessions": ("client_id", "session_at"),
    "scores": ("client_id", "assessed_at", "instrument"),
    "scores_wide": ("client_id", "assessed_at"),
}
TIME_FIELD = {"sessions": "session_at", "scores": "assessed_at", "scores_wide": "assessed_at"}

# Column names that carry direct identifiers (HIPAA Safe Harbor, DOMAIN.md §7): exact names ...
IDENTIFIER_NAMES = {
    "name",
    "names",
    "firstname",
    "lastname",
    "surname",
    "fullname",
    "givenname",
    "familyname",
    "middlename",
    "patientname",
    "clientname",
    "preferredname",
    "initials",
    "email",
    "emailaddress",
    "mail",
    "phone",
    "phonenumber",
    "telephone",
    "tel",
    "mobile",
    "cell",
    "cellphone",
    "fax",
    "address",
    "streetaddress",
    "street",
    "addressline1",
    "addressline2",
    "city",
    "zip",
    "zipcode",
    "postcode",
    "postalcode",
    "dob",
    "dateofbirth",
    "birthdate",
    "birthday",
    "mrn",
    "medicalrecordnumber",
    "ssn",
    "socialsecuritynumber",
    "nhsnumber",
    "insuranceid",
    "insurancenumber",
    "memberid",
    "policynumber",
    "driverslicense",
    "licensenumber",
    "ipaddress",
    "url",
    "accountnumber",
    "healthplanid",
    "passportnumber",
    "nationalid",
}
# ... and fragments that mark one wherever they appear in a name.
IDENTIFIER_FRAGMENTS = (
    "email",
    "phone",
    "address",
    "postcode",
    "zipcode",
    "postalcode",
    "dateofbirth",
    "birthdate",
    "firstname",
    "lastname",
    "surname",
    "fullname",
    "socialsecurity",
    "medicalrecord",
    "ssn",
    "mrn",
)

MODALITIES = {
    "IV infusion": ("iv", "infusion", "intravenous", "ivinfusion", "ivketamine"),
    "IM injection": ("im", "intramuscular", "injection", "iminjection"),
    "Sublingual / troche": ("sl", "sublingual", "troche", "lozenge", "rdt", "oral", "sublingualtroche"),
    "Intranasal esketamine": ("spravato", "esketamine", "nasal", "in", "intranasal", "intranasalesketamine"),
    "Subcutaneous": ("sc", "subq", "subcut", "subcutaneous"),
}
MODALITY_LOOKUP = {normalise(c): c for c in MODALITIES} | {a: c for c, al in MODALITIES.items() for a in al}

SESSION_TYPES = {
    "dosing": ("dosing", "dose", "dosingsession", "treatment", "ketamine"),
    "integration": ("integration", "integrationsession", "integrationtherapy", "kap", "therapy"),
    "preparation": ("preparation", "prep", "preparationsession", "intake"),
    "assessment": ("assessment", "assess", "evaluation", "followup", "assessmentsession"),
}
SESSION_TYPE_LOOKUP = {a: c for c, al in SESSION_TYPES.items() for a in al}


class ContractError(ValueError):
    """A file whose columns do not fit the contract; the message is one line and names the file."""


# ... and words that mark one wherever they stand in a header ("Mobile number", "DOB (dd/mm/yyyy)").
IDENTIFIER_WORDS = {
    "email",
    "mail",
    "phone",
    "telephone",
    "tel",
    "mobile",
    "cell",
    "cellphone",
    "fax",
    "address",
    "street",
    "zip",
    "zipcode",
    "postcode",
    "dob",
    "birth",
    "birthdate",
    "birthday",
    "mrn",
    "ssn",
    "surname",
    "firstname",
    "lastname",
    "fullname",
    "initials",
    "passport",
    "nhs",
    "medicare",
    "medicaid",
    "insurance",
    "born",
    "forename",
    "forenames",
    "given",
    "contact",
    # other languages a clinic's export may be in (accents are removed before matching)
    "telefon",
    "telefono",
    "courriel",
    "correo",
    "adresse",
    "direccion",
    "indirizzo",
    "endereco",
    "strasse",
    "nom",
    "prenom",
    "vorname",
    "nachname",
    "apellido",
    "apellidos",
    "nombre",
    "cognome",
    "geburtsdatum",
    "naissance",
    "nacimiento",
}
# "name" as a word marks a person's name unless another word says whose or what it names
NAME_QUALIFIERS = {
    "site",
    "clinic",
    "location",
    "instrument",
    "measure",
    "scale",
    "questionnaire",
    "drug",
    "medication",
    "study",
    "file",
    "test",
}


def _folded(header: str) -> str:
    """Lower case, NFKC, accents removed (Téléphone -> telephone), camelCase split into words."""
    text = unicodedata.normalize("NFKC", str(header))
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text).lower()
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def is_identifier_column(header: str) -> bool:
    """Whether a column's name says it holds a direct identifier: an exact name (IDENTIFIER_NAMES), a fragment
    anywhere in it (IDENTIFIER_FRAGMENTS), a word of it (IDENTIFIER_WORDS), or the word "name" with no word saying
    it names something else (NAME_QUALIFIERS). A name the contract knows (instrument_name) is never one."""
    folded = _folded(header)
    n = re.sub(r"[^a-z0-9]", "", folded)
    if n in _LOOKUP:
        return False
    words = set(re.findall(r"[a-z0-9]+", folded))
    named = "name" in words and not words & NAME_QUALIFIERS
    return n in IDENTIFIER_NAMES or any(f in n for f in IDENTIFIER_FRAGMENTS) or bool(words & IDENTIFIER_WORDS) or named


@dataclass
class Mapping:
    """How a file's columns map onto the contract: field -> positional column (c0, c1, ...)."""

    kind: str
    fields: dict[str, str]
    items: dict[int, str]  # item number -> column
    wide: dict[str, str]  # canonical instrument -> column (wide form)
    ignored: list[str]
    values: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # mapped values: field -> (label, term)


def map_columns(name: str, headers: list[str], instrument_labels: dict[str, str], kind: str | None = None) -> Mapping:
    """Detect the kind of file (or check the one given) and map its columns.

    `instrument_labels` maps normalised instrument names and aliases to canonical names."""
    from dashboard.ingest.validation.identifiers import detect, shown_header

    for j, h in enumerate(headers):
        if is_identifier_column(h):
            raise ContractError(
                f"{name}: {_column(shown_header(h, j), j)} carries direct identifiers; remove it (and any other "
                "identifying column) before import. Nothing was imported."
            )
        what = detect(h, "label")
        if what:  # a name, address or e-mail address where a column name should be: a file without a header line
            raise ContractError(
                f"{name}: the name of column {j + 1} looks like {what}; the first line must name the columns "
                "(client_id, ...) and no cell may hold an identifier. Nothing was imported."
            )
    found, items, wide, ignored = _assign(name, headers, instrument_labels)
    kind = kind or _detect(found, items, wide)
    if kind is None:
        known = len(headers) - len(ignored)
        raise ContractError(
            f"{name}: cannot tell what kind of file this is from its {len(headers)} column name(s) ({known} of them "
            "known to the contract); if the file has no header line, add one. A clients file has client_id; a "
            "sessions file client_id and session_at (or date); a scores file client_id, assessed_at (or date), "
            "instrument and score, or one column per instrument."
        )
    if kind not in KINDS:
        raise ContractError(f"{name}: unknown kind '{kind}'; use one of {', '.join(KINDS)}")
    mapping = _narrow(kind, headers, found, items, wide, ignored)
    _require(name, mapping)
    return mapping


def _assign(name: str, headers: list[str], instrument_labels: dict[str, str]):
    """Each header as a contract field, an item number or a wide-form instrument (or ignored, as it may be shown:
    shown_header); two headers meaning the same thing refuse the file."""
    from dashboard.ingest.validation.identifiers import shown_header

    found: dict[str, str] = {}
    items: dict[int, str] = {}
    wide: dict[str, str] = {}
    ignored: list[str] = []
    for j, h in enumerate(headers):
        n = normalise(h)
        item = _ITEM.match(n)
        if (canon := _LOOKUP.get(n)) is not None:
            store, key = found, canon
        elif item and int(item.group(1)) >= 1:  # item_0 numbers nothing: ignored like any unknown column
            store, key = items, int(item.group(1))
        elif n in instrument_labels:
            store, key = wide, instrument_labels[n]
        else:
            ignored.append(shown_header(h, j))
            continue
        if key in store:
            i = int(store[key][1:])
            raise ContractError(
                f"{name}: {_column(headers[i], i)} and {_column(h, j)} both mean {key}; keep one of them"
            )
        store[key] = f"c{j}"
    return found, items, wide, ignored


def _column(shown: str, j: int) -> str:
    """A column as a message names it: 'column 3' when its name is withheld, else column 'Site'."""
    return shown if shown == f"column {j + 1}" else f"column '{shown}'"


def _narrow(kind: str, headers: list[str], found: dict, items: dict, wide: dict, ignored: list[str]) -> Mapping:
    """Keep the columns the kind uses; the rest are ignored. A generic time column is the kind's time field."""
    if "time" in found and kind in TIME_FIELD and TIME_FIELD[kind] not in found:
        found[TIME_FIELD[kind]] = found.pop("time")
    fields = {f: c for f, c in found.items() if f in FIELDS[kind]}
    ignored = ignored + [headers[int(c[1:])] for f, c in found.items() if f not in FIELDS[kind]]
    if kind != "scores":
        ignored.extend(headers[int(c[1:])] for c in items.values())
        items = {}
    if kind != "scores_wide":
        ignored.extend(headers[int(c[1:])] for c in wide.values())
        wide = {}
    return Mapping(kind, fields, dict(sorted(items.items())), wide, ignored)


def _require(name: str, m: Mapping) -> None:
    """Refuse a file that lacks a column its kind needs."""
    missing = [f for f in REQUIRED[m.kind] if f not in m.fields]
    if m.kind == "scores" and "score" not in m.fields and not m.items:
        missing.append("score")
    if m.kind == "scores_wide" and not m.wide:
        missing.append("an instrument column (e.g. phq9)")
    if missing:
        hints = {f: ", ".join(ALIASES.get(f, ())[:4]) for f in missing}
        text = "; ".join(f"{f}" + (f" (or {hints[f]})" if hints.get(f) else "") for f in missing)
        raise ContractError(f"{name}: a {m.kind} file needs the column(s) {text}")


def _detect(found: dict, items: dict, wide: dict) -> str | None:
    if "instrument" in found and ("score" in found or items):
        return "scores"
    has_time = bool({"time", "assessed_at", "session_at"} & found.keys())
    if wide and has_time and "session_at" not in found:
        return "scores_wide"
    if {"session_at", "session_type", "modality", "dose_mg"} & found.keys():
        return "sessions"
    if "client_id" in found and not has_time and not wide:
        return "clients"
    return None
