"""The cohort, declared once: which clients a figure is about (the filters), how they are grouped and the settings
the figure is read under, as one value that travels from the URL, the sidebar, the command line and the report
to SQL, where the cohort macros (queries/derive/03_macros.sql) take it as one STRUCT parameter, `$cohort`.

`FILTERS` is the one table of filters. Each row gives a filter's name (the URL key, the `--name` flag of the
command line and the field of `Filters`), its kind, its default (no filter), how it is parsed from text and
written back, its help, and for a filter on a client attribute the column of the per-client derived tables it
filters. The sidebar, the URL, the command line, the report's and the captions' description of a cohort and the
SQL filter are all generated from it. `COHORT_COLUMNS` is the one list of the first course's attributes that the
per-client derived tables copy (so that the views filter them without a join).

To add a filter on a client attribute: compute its column in queries/derive/02_courses.sql (if it is not there
yet), add a row to FILTERS, and describe it in the README's "How it is computed"."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, make_dataclass, replace
from typing import Any

from dashboard.settings import Settings, load


class OutcomeError(ValueError):
    """A request the engine cannot answer (unknown instrument, bad grouping, a malformed filter); one line."""


# --- the filters ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """One cohort filter. Kinds:

    - 'values': any of a list of labels, matched against `column` (None = every value, () = nobody);
    - 'yesno':  a boolean column (`column`), written yes / no;
    - 'month_from' / 'month_to': the first dose's month (YYYY-MM) at or after / at or before, on cohort_month;
    - 'number_min': a minimum of `column` (a number from 0 to 1000)."""

    name: str  # the URL key and the --flag; the field of Filters is `attr`
    kind: str
    label: str
    help: str
    column: str
    attr: str = ""  # the Filters field (default: the name)
    describe_as: str = ""  # the words of describe(): 'modality: A, B'; a yesno filter's words when true ...
    describe_no: str = ""  # ... and when false
    url: bool = True  # kept in the URL (and the sidebar); False: set by a view, e.g. the focus clinician

    @property
    def field(self) -> str:
        return self.attr or self.name

    @property
    def multi(self) -> bool:
        return self.kind == "values"

    def parse(self, text: str) -> Any:
        """One value from text (a URL or command-line value); ValueError with the reason when it is not one."""
        if self.kind == "yesno":
            if text not in ("yes", "no"):
                raise ValueError("use yes or no")
            return text == "yes"
        if self.kind in ("month_from", "month_to"):
            if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
                raise ValueError("use a month such as 2025-03")
            return text
        if self.kind == "number_min":
            try:
                value = float(text)
            except ValueError:
                raise ValueError("use a number such as 10") from None
            if not 0 <= value <= 1000:
                raise ValueError("use a number such as 10")
            return value
        return text

    def format(self, value: Any) -> str:
        """A value as the text parse() reads back."""
        if self.kind == "yesno":
            return "yes" if value else "no"
        if self.kind == "number_min":
            return f"{value:g}"
        return str(value)

    def check(self, value: Any) -> None:
        """Refuse a wrongly typed value before anything reaches the database."""
        if value is None:
            return
        if self.multi:
            if not isinstance(value, tuple | list) or not all(isinstance(v, str) for v in value):
                raise OutcomeError(f"filter {self.field} must be a list of labels")
        elif self.kind == "yesno":
            if not isinstance(value, bool):
                raise OutcomeError(f"filter {self.field} must be true, false or empty")
        elif self.kind == "number_min":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise OutcomeError(f"filter {self.field} must be a number")
        elif not isinstance(value, str):
            raise OutcomeError(f"filter {self.field} must be text")

    def where(self) -> str:
        """The SQL condition on a row `c` of a per-client table, reading the filter from the struct `p_cohort`."""
        p = f"p_cohort['{self.field}']"
        test = {
            "values": f"list_contains({p}::varchar[], c.{self.column})",
            "yesno": f"c.{self.column} = {p}::boolean",
            "month_from": f"c.{self.column} >= {p}::varchar",
            "month_to": f"c.{self.column} <= {p}::varchar",
            "number_min": f"c.{self.column} >= {p}::double",
        }[self.kind]
        return f"({p} is null or {test})"


FILTERS: tuple[Filter, ...] = (
    Filter("modality", "values", "Modalities", "The first dose's route.", "modality", "modalities", "modality"),
    Filter("condition", "values", "Conditions", "The client's condition.", "condition", "conditions", "condition"),
    Filter("site", "values", "Sites", "The client's site (else the first dose's).", "site", "sites", "site"),
    Filter(
        "clinician", "values", "Clinicians", "The first dose's clinician.", "clinician_id", "clinicians", "clinician"
    ),
    Filter("age_band", "values", "Age bands", "The client's age band.", "age_band", "age_bands", "age band"),
    Filter("sex", "values", "Sex", "The client's recorded sex.", "sex", "sexes", "sex"),
    Filter(
        "prior_treatments",
        "values",
        "Prior treatments",
        "Treatments that failed before ketamine, in bands: 0, 1, 2, 3-4, 5+.",
        "prior_treatments_band",
        "prior_treatments_bands",
        "prior treatments",
    ),
    Filter(
        "integration",
        "yesno",
        "Integration therapy",
        "With integration therapy: at least `integration_min_sessions` integration sessions in the course.",
        "has_integration",
        describe_as="with integration therapy",
        describe_no="ketamine alone",
    ),
    Filter(
        "from",
        "month_from",
        "First dose from",
        "First dose in this month or later.",
        "cohort_month",
        attr="cohort_from",
    ),
    Filter("to", "month_to", "First dose to", "First dose in this month or earlier.", "cohort_month", attr="cohort_to"),
    Filter(
        "min_baseline",
        "number_min",
        "Minimum baseline score",
        "Only clients whose baseline is at least this severe (0 = everyone).",
        "baseline",
        describe_as="baseline",
    ),
)
# the first course's attributes the per-client derived tables copy: every filtered or grouped column
GROUP_COLUMNS = ("modality", "integration", "condition", "site", "clinician_id", "age_band", "cohort_quarter")
COHORT_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys([*GROUP_COLUMNS, *(f.column for f in FILTERS if f.column != "baseline")])
)
BY_NAME = {f.name: f for f in FILTERS}


def _filters_post_init(self) -> None:
    for f in FILTERS:
        f.check(getattr(self, f.field))
    if self.focus is not None and not isinstance(self.focus, str):
        raise OutcomeError("filter focus must be text")


def _params(self) -> dict:
    """The filters as the STRUCT's fields (lists as lists, None as NULL)."""
    out = {f.field: getattr(self, f.field) for f in FILTERS}
    out = {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
    return out | {"focus": self.focus}


def _describe(self, quote: Callable[[str], str] = str) -> str:
    """The filters as one line of text, for captions, subtitles and reports; `quote` is applied to every value taken
    from the data (escape.md where the line is shown as markdown)."""
    parts = []
    for f in FILTERS:
        value = getattr(self, f.field)
        if value is None:
            continue
        if f.multi:
            parts.append(f"{f.describe_as}: {', '.join(map(quote, value)) if value else 'none'}")
        elif f.kind == "yesno":
            parts.append(f.describe_as if value else f.describe_no)
        elif f.kind == "number_min":
            parts.append(f"{f.describe_as} ≥ {value:g}")
    if self.cohort_from or self.cohort_to:
        parts.append(f"first dose {quote(self.cohort_from or '…')} to {quote(self.cohort_to or '…')}")
    return "; ".join(parts) if parts else "all clients"


# Filters: one field per row of FILTERS (None = no filter), plus `focus`, the clinician a view compares with the
# rest of the practice (grouping 'clinician_vs_rest'). Generated, so that a filter is declared once.
Filters = make_dataclass(
    "Filters",
    [(f.field, Any, field(default=None)) for f in FILTERS] + [("focus", Any, field(default=None))],
    frozen=True,
    namespace={"__post_init__": _filters_post_init, "params": _params, "describe": _describe, "__module__": __name__},
)


# --- the cohort ----------------------------------------------------------------------------------------------------

GROUP_BY = {
    "modality": "Modality",
    "integration": "Integration therapy",
    "condition": "Condition",
    "site": "Site",
    "clinician": "Clinician",
    "age_band": "Age band",
    "cohort_quarter": "Cohort quarter",
    "clinician_vs_rest": "This clinician and the rest of the practice",
    "none": "All clients",
}


@dataclass(frozen=True)
class Cohort:
    """Whose figures (the instrument's clients who pass the filters), grouped how, under which settings."""

    instrument: str | None
    filters: Filters = field(default_factory=Filters)  # type: ignore[valid-type]
    by: str = "none"
    settings: Settings = field(default_factory=load)
    # for what may leave the clinic (privacy.disclose): counts under k hidden, every other count rounded to 5.
    # False: exact counts (complementary suppression only), for use inside the clinic
    rounded: bool = False

    def __post_init__(self):
        if self.by not in GROUP_BY:
            raise OutcomeError(f"unknown grouping {self.by!r}; use one of {', '.join(GROUP_BY)}")
        if not isinstance(self.filters, Filters):
            raise OutcomeError("filters must be a Filters value")

    def grouped(self, by: str) -> Cohort:
        return replace(self, by=by)

    def where(self, **changes) -> Cohort:
        """The same cohort with some filters changed."""
        return replace(self, filters=replace(self.filters, **changes))

    def sql(self) -> dict:
        """The value bound as `$cohort`: the filters, the instrument and the grouping."""
        return {"instrument": self.instrument, "group_by": self.by, **self.filters.params()}

    def describe(self) -> str:
        return self.filters.describe()


def filters_from(values: dict[str, Any]) -> Filters:  # type: ignore[valid-type]
    """Filters from a {filter name: value} dict (names as in FILTERS, e.g. 'modality' -> modalities)."""
    return Filters(**{BY_NAME[k].field: v for k, v in values.items() if v is not None})


# --- the SQL the table generates ------------------------------------------------------------------------------------


def sql_fragments() -> dict[str, str]:
    """The generated parts of queries/derive/03_macros.sql: the filter conditions and the column lists."""
    for name in (*COHORT_COLUMNS, *(f.field for f in FILTERS)):
        if not re.fullmatch(r"[a-z_]+", name):  # identifiers pasted into SQL: never anything else
            raise ValueError(f"not an identifier: {name!r}")
    listed = ", ".join(f"'{c}'" for c in COHORT_COLUMNS)
    options = ", ".join(f"'{f.column}'" for f in FILTERS if f.multi)
    return {
        "{{cohort_where}}": "\n    and ".join(f.where() for f in FILTERS if f.column != "baseline"),
        "{{baseline_where}}": BY_NAME["min_baseline"].where().replace("c.baseline", "o.baseline"),
        "{{cohort_columns}}": f"['has_integration', 'cohort_month', {listed}]",
        "{{option_columns}}": f"[{options}]",
    }


# --- the command line ----------------------------------------------------------------------------------------------


def add_arguments(parser, parse_error: type[Exception]) -> None:
    """The filters as command-line options (--modality A B, --integration yes, --from 2025-01, ...)."""

    def parser_of(f: Filter) -> Callable[[str], Any]:
        def parse(text: str):
            try:
                return f.parse(text)
            except ValueError as exc:
                raise parse_error(f"{text!r}: {exc}") from None

        return parse

    for f in FILTERS:
        if not f.url:
            continue
        metavar = {"values": "VALUE", "yesno": "yes|no", "number_min": "SCORE"}.get(f.kind, "YYYY-MM")
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f"filter_{f.name}",
            nargs="+" if f.multi else None,
            type=parser_of(f),
            metavar=metavar,
            help=f"{f.help} (default: everyone)",
        )


def filters_from_args(args) -> Filters:  # type: ignore[valid-type]
    """Filters from parsed command-line options (add_arguments)."""
    values = {}
    for f in FILTERS:
        value = getattr(args, f"filter_{f.name}", None)
        values[f.name] = tuple(value) if f.multi and value else (None if f.multi else value)
    return filters_from(values)


__all__ = [
    "COHORT_COLUMNS",
    "FILTERS",
    "GROUP_BY",
    "Cohort",
    "Filter",
    "Filters",
    "OutcomeError",
]
