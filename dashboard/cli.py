"""The command line: `python -m dashboard demo | import`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

from dashboard import store
from dashboard.ingest.contract import KINDS
from dashboard.outcomes import GROUP_BY


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors exit 2 with one line, as argparse does
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m dashboard", description="Ketamine clinic outcomes: import data, build the demo.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = sub.add_parser("demo", help="write the synthetic demo database")
    demo.add_argument("--db", help=f"database file (default {store.DEMO_DB.relative_to(store.PROJECT_DIR)})")
    demo.add_argument("--clients", type=_positive, default=600, help="number of clients (default 600)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")

    imp = sub.add_parser("import", help="import anonymised CSV, XLSX or Parquet files, or FHIR R4 (Bundle or NDJSON)")
    imp.add_argument("files", nargs="+", metavar="FILE")
    imp.add_argument("--db", help="database file (default $OUTCOMES_DB or data/outcomes.duckdb)")
    imp.add_argument("--kind", choices=KINDS, help="the kind of every file (default: detected from columns)")
    imp.add_argument("--instruments", metavar="FILE", help="TOML file defining additional instruments")
    imp.add_argument("--replace", action="store_true", help="overwrite stored values that conflict")
    imp.add_argument("--rejects", metavar="PATH", help="write every rejected row to this CSV file")
    imp.add_argument(
        "--map",
        action="append",
        metavar="FIELD=COLUMN,...",
        help="take a contract field from a column named otherwise, e.g. client_id=PatientCode,session_at='Visit Date'",
    )
    imp.add_argument(
        "--map-value",
        action="append",
        metavar="FIELD:VALUE=TERM",
        help="read a modality or session type value as a term, e.g. 'modality:Ketamine IV 0.5mg/kg=IV infusion'",
    )
    imp.add_argument(
        "--pseudonymise",
        action="append",
        choices=["client_id", "clinician_id"],
        help="replace this column's ids by keyed pseudonyms on import (needs OUTCOMES_PSEUDONYM_KEY; the same as a "
        "FHIR import gives the same patient)",
    )
    imp.add_argument("--mapping", metavar="NAME", help="use the column mapping saved under this name")
    imp.add_argument("--save-mapping", metavar="NAME", help="save the --map and --map-value given under this name")
    out = sub.add_parser("outcomes", help="response and remission per group and timepoint (CSV or JSON)")
    out.add_argument("--instrument", required=True, metavar="NAME")
    out.add_argument("--db", help="database file (default $OUTCOMES_DB or data/outcomes.duckdb)")
    out.add_argument("--by", default="modality", choices=list(GROUP_BY), help="grouping (default modality)")
    out.add_argument(
        "--at-days",
        type=_timepoints,
        metavar="DAY[:WINDOW],...",
        help="timepoints (default the standard ones: 1:1,7:3,28:7,84:14,182:28)",
    )
    out.add_argument("--window-days", type=_nonnegative, metavar="W", help="default window for --at-days")
    out.add_argument("--min-cell", type=_nonnegative_int, metavar="K", help="suppression threshold (0 disables)")
    out.add_argument(
        "--exact",
        action="store_true",
        help="exact counts, for use inside the clinic only (default: counts under K hidden, others rounded to 5)",
    )
    _cohort_arguments(out)
    out.add_argument("--format", choices=["csv", "json"], default="csv")

    adj = _reading_command(
        sub, "adjusted", "response per group, crude and adjusted for case mix (indirect standardisation, O/E)"
    )
    adj.add_argument(
        "--by",
        default="clinician",
        choices=["clinician", "site", "modality", "integration", "condition", "age_band"],
        help="grouping (default clinician)",
    )
    adj.add_argument("--at-days", type=float, metavar="D", help="a precomputed timepoint's day (default: primary)")

    est = _reading_command(
        sub, "estimand", "mean change from baseline as the trials report it (mixed model for repeated measures)"
    )
    est.add_argument("--by", default="modality", choices=["modality", "integration", "site", "none"])
    est.add_argument("--at-days", type=float, metavar="D", help="a standard timepoint's day (default: primary)")

    alr = _reading_command(sub, "alerts", "off-track alerts from the expected course, and their quality so far")
    alr.add_argument(
        "--table",
        default="quality",
        choices=["quality", "off-track"],
        help="quality: PPV and sensitivity (default); off-track: the clients off track now, with the reason (client "
        "ids: for use inside the clinic only)",
    )

    att = sub.add_parser(
        "attrition", help="who stops dosing and being assessed, when, after which dose; and the counts behind rates"
    )
    att.add_argument("--instrument", required=True, metavar="NAME")
    att.add_argument("--db", help="database file (default $OUTCOMES_DB or data/outcomes.duckdb)")
    att.add_argument(
        "--by",
        default="modality",
        choices=["modality", "site", "clinician", "none"],
        help="grouping (default modality)",
    )
    att.add_argument(
        "--table",
        default="weeks",
        choices=["weeks", "stopping-dose", "reconciliation"],
        help="weeks: share still dosing and still assessed at --weeks (default); stopping-dose: the dose after which "
        "clients stopped; reconciliation: the client counts behind each figure at the primary timepoint",
    )
    att.add_argument(
        "--weeks", type=_weeks, default=[1, 2, 3, 4, 8, 12], metavar="W,...", help="weeks since the first dose"
    )
    att.add_argument("--min-cell", type=_nonnegative_int, metavar="K", help="suppression threshold (0 disables)")
    att.add_argument("--exact", action="store_true", help="exact counts, for use inside the clinic only")
    _cohort_arguments(att)
    att.add_argument("--format", choices=["csv", "json"], default="csv")

    rep = sub.add_parser("report", help="write the case-conference report (one self-contained HTML file)")
    rep.add_argument("--out", required=True, metavar="FILE.html")
    rep.add_argument("--db", help="database file (default $OUTCOMES_DB or data/outcomes.duckdb)")
    rep.add_argument("--instrument", default="PHQ-9", metavar="NAME")
    rep.add_argument("--pdf", metavar="FILE.pdf", help="also print the report to PDF (needs Chromium)")
    _cohort_arguments(rep)

    enc = sub.add_parser("encrypt", help="encrypt an existing database in place with the configured key")
    enc.add_argument("--db", help="database file (default $OUTCOMES_DB or data/outcomes.duckdb)")

    bench = sub.add_parser("bench", help="benchmark import, derived tables and every view at scale")
    bench.add_argument("--clients", type=_positive, default=100_000, help="synthetic clients (default 100,000)")
    bench.add_argument("--out", metavar="FILE.json", help="also write the figures as JSON")
    bench.add_argument("--no-cold-start", action="store_true", help="skip the browser cold-start measurement")
    bench.add_argument("--no-browser", action="store_true", help="skip the filter-change and deep-link timings")
    return p


def _cohort_arguments(p) -> None:
    from dashboard import cohort

    cohort.add_arguments(p, argparse.ArgumentTypeError)


def _timepoints(text: str) -> list[tuple[float, float | None]]:
    points = []
    for part in text.split(","):
        day, _, window = part.strip().partition(":")
        try:
            d = float(day)
            w = float(window) if window else None
        except ValueError:
            raise argparse.ArgumentTypeError(f"not DAY[:WINDOW]: {part!r}") from None
        if d <= 0 or (w is not None and w < 0) or not all(map(_finite, (d, w or 0))):
            raise argparse.ArgumentTypeError(f"day must be > 0 and window >= 0: {part!r}")
        points.append((d, w))
    return points


def _weeks(text: str) -> list[float]:
    try:
        weeks = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of weeks: {text!r}") from None
    if not weeks or not all(_finite(w) and 0 <= w <= 520 for w in weeks):
        raise argparse.ArgumentTypeError("weeks must be from 0 to 520")
    return list(dict.fromkeys(weeks))


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")


def _nonnegative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0 or not _finite(value):
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _nonnegative_int(text: str) -> int:
    value = _nonnegative(text)
    if value != int(value):
        raise argparse.ArgumentTypeError("must be a whole number")
    return int(value)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "import":
            return _import(args)
        if args.command == "outcomes":
            return _outcomes(args)
        if args.command == "report":
            return _report(args)
        if args.command == "attrition":
            return _attrition(args)
        if args.command == "adjusted":
            return _adjusted(args)
        if args.command == "estimand":
            return _estimand(args)
        if args.command == "alerts":
            return _alerts(args)
        if args.command == "encrypt":
            return _encrypt(args)
        if args.command == "bench":
            from dashboard import bench

            return bench.main(args.clients, args.out, cold_start=not args.no_cold_start, browser=not args.no_browser)
    except store.StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except duckdb.Error as exc:  # a block that fails its check when read again after the open's verify (store.verify)
        detail = store.damage(exc)
        if detail is None:
            raise
        where = (
            store.DEMO_DB if args.command == "demo" and not args.db else store.resolve_path(getattr(args, "db", None))
        )
        print(f"error: {store.damaged(where, detail)}", file=sys.stderr)
        return 2
    return 2


def _encrypt(args) -> int:
    from dashboard import writer

    key = store.configured_key()
    if key is None:
        print(
            f"error: no key: set {store.KEY_VAR} (or key in the [store] table of .streamlit/secrets.toml) to the "
            "key to encrypt with; see the README on keys",
            file=sys.stderr,
        )
        return 2
    writer.encrypt(store.resolve_path(args.db), key, notify=print)
    return 0


def _demo(args) -> int:
    from dashboard.demo import build_demo

    target = Path(args.db or store.DEMO_DB)
    if target.exists():  # replaced whole: only a new path or a demo database, never a clinic's or a foreign file
        con = store.connect(target, read_only=True)  # a file that is not an intact outcomes database: StoreError
        try:
            kind = store.dataset_kind(con)
        finally:
            con.close()
        if kind != "demo":
            print(
                f"error: {target}: a clinic's outcomes database, not a demo one; the demo is never written over it "
                "(nothing was changed): choose another --db",
                file=sys.stderr,
            )
            return 2
    result = build_demo(target, n_clients=args.clients, seed=args.seed)
    for r in result["reports"]:
        print(r.summary())
    print(
        f"demo database {result['path']}: {result['clients']:,} clients, {result['sessions']:,} sessions, "
        f"{result['scores']:,} scores in {result['seconds_total']:.1f} s"
    )
    return 0 if all(r.ok for r in result["reports"]) else 1


def _given_mapping(args):
    """The column mapping of --map and --map-value (empty when none), or None after printing why it is unusable."""
    from dashboard.ingest import mapping as mappings

    try:
        given = mappings.parse(args.map, args.map_value)
        given.pseudonymise = list(dict.fromkeys(args.pseudonymise or []))
    except mappings.MappingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    if args.mapping and (given.columns or given.values):
        print("error: give either --mapping NAME or --map/--map-value, not both", file=sys.stderr)
        return None
    if args.save_mapping and not given:
        print("error: --save-mapping NAME saves the --map and --map-value given; none was", file=sys.stderr)
        return None
    return given


def _column_map(con, args, given):
    """The mapping an import goes through: the saved one named (with any --pseudonymise added) or the one given,
    saved first when asked."""
    from dashboard.ingest import mapping as mappings

    if args.mapping:
        column_map = mappings.load(con, args.mapping)
        column_map.pseudonymise = list(dict.fromkeys([*column_map.pseudonymise, *given.pseudonymise]))
        return column_map
    if args.save_mapping:
        mappings.save(con, args.save_mapping, given)
        print(f"saved the mapping as {args.save_mapping!r}", file=sys.stderr)
    return given


def _import(args) -> int:
    from dashboard import derive
    from dashboard.export import write_rejects_csv
    from dashboard.ingest import ImportBusy, import_files
    from dashboard.instruments import InstrumentError

    missing = [f for f in args.files if not Path(f).is_file()]
    if missing:
        print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    from dashboard.ingest import mapping as mappings

    given = _given_mapping(args)
    if given is None:
        return 2
    from dashboard import writer
    from dashboard.ingest.limits import MemoryGuard, duckdb_memory_limit
    from dashboard.settings import load

    path = store.resolve_path(args.db)
    shown = Progress(args.files) if sys.stderr.isatty() else None  # quiet when piped or logged
    current = [None]

    def progress(file: str, stage: str) -> None:
        current[0] = file
        if shown:
            shown(file, stage)

    memory_mb = load().import_memory_mb
    guard = MemoryGuard(memory_mb, lambda: f"the import of {current[0]}" if current[0] else "the import")
    try:
        # in a copy that replaces the store when the import is done: the app reads on meanwhile (dashboard/writer.py)
        with guard, writer.writing(path, wait=writer.WAIT_SECONDS, notify=_to_stderr) as con:
            if memory_mb:
                con.execute("set memory_limit = $limit", {"limit": duckdb_memory_limit(memory_mb)})
            column_map = _column_map(con, args, given)
            reports = import_files(
                con,
                args.files,
                kind=args.kind,
                replace=args.replace,
                instrument_file=args.instruments,
                after_import=derive.refresh,
                progress=progress,
                derive_once=not store.is_lake(path),  # a file store is seen only when the command is done
                column_map=column_map or None,
            )
            if shown:
                shown.note("saving the store (a new snapshot replaces the old one)…")
    except (InstrumentError, mappings.MappingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ImportBusy, writer.WriterBusy) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if shown:
            shown.done()
    for r in reports:
        print(r.summary())
        for row in r.rejects.head(10).itertuples():
            col = f", column {row.column}" if isinstance(row.column, str) else ""
            print(f"    {r.line_label} {row.line}{col}: {row.reason}")
        if len(r.rejects) > 10:
            print(f"    … and {len(r.rejects) - 10:,} more" + ("" if args.rejects else " (use --rejects PATH)"))
    if args.rejects:
        n = write_rejects_csv(reports, args.rejects)
        print(f"wrote {n:,} rejected {'row' if n == 1 else 'rows'} to {args.rejects}")
    return 0 if all(r.ok for r in reports) else 1


def _outcomes(args) -> int:
    import json

    from dashboard.cohort import Cohort
    from dashboard.outcomes import OutcomeError, outcomes_table, resolve
    from dashboard.settings import load

    settings = load()
    default_window = args.window_days
    points = None
    if args.at_days:
        points = [
            (d, w if w is not None else (default_window if default_window is not None else settings.window_for(d)))
            for d, w in args.at_days
        ]
    elif default_window is not None:
        points = [(d, default_window) for d, _ in settings.timepoints]
    path = _existing_store(args.db)
    if path is None:
        return 2
    con = _open_current(path, settings)
    try:
        cohort = resolve(con, Cohort(args.instrument, _filters(args), args.by, settings, rounded=not args.exact))
        table = outcomes_table(con, cohort, timepoints=points, min_cell=args.min_cell)
    except OutcomeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        con.close()
    if args.format == "json":
        records = json.loads(table.to_json(orient="records"))
        print(json.dumps(records, indent=1))
    else:
        sys.stdout.write(_csv(table))
    if args.exact:
        print(
            "note: exact counts, for use inside the clinic only; leave out --exact for output to share",
            file=sys.stderr,
        )
    return 0


def _tuple(values):
    return tuple(values) if values else None


def _reading_command(sub, name: str, description: str):
    """A command that reads one instrument's cohort: --instrument, --db, the filters, --min-cell, --exact, --format."""
    parser = sub.add_parser(name, help=description)
    parser.add_argument("--instrument", required=True, metavar="NAME")
    parser.add_argument("--db", help="database file (default $OUTCOMES_DB or data/outcomes.duckdb)")
    parser.add_argument("--min-cell", type=_nonnegative_int, metavar="K", help="suppression threshold (0 disables)")
    parser.add_argument("--exact", action="store_true", help="exact counts, for use inside the clinic only")
    _cohort_arguments(parser)
    parser.add_argument("--format", choices=["csv", "json"], default="csv")
    return parser


def _computed(args, by: str, compute):
    """A reading command's result: open the store, resolve the cohort of --instrument and the filters (rounded unless
    --exact), and return compute(con, cohort), or None after printing why not (exit 2)."""
    from dashboard import outcomes
    from dashboard.cohort import Cohort
    from dashboard.settings import load

    settings = load()
    path = _existing_store(args.db)
    if path is None:
        return None
    con = _open_current(path, settings)
    try:
        asked = Cohort(args.instrument, _filters(args), by, settings, rounded=not args.exact)
        return compute(con, outcomes.resolve(con, asked))
    except outcomes.OutcomeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    finally:
        con.close()


def _print_table(args, table, document=None) -> None:
    """CSV (or, with --format json, the records, inside `document` under "groups" when given), text cells
    neutralised for spreadsheets."""
    import json

    from dashboard.export import neutralise

    for c in table.columns:
        if table[c].dtype == object:
            table[c] = table[c].map(lambda v: neutralise(v) if isinstance(v, str) else v)
    if args.format != "json":
        sys.stdout.write(table.to_csv(index=False, lineterminator="\n"))
    elif document is None:
        print(table.to_json(orient="records", indent=1))
    else:
        print(json.dumps({**document, "groups": json.loads(table.to_json(orient="records"))}, indent=1))
    _exact_note(args)


def _adjusted(args) -> int:
    from dashboard import outcomes

    def compute(con, cohort):
        day = args.at_days if args.at_days is not None else cohort.settings.primary_day
        return outcomes.adjusted(con, cohort, day, cohort.settings.window_for(day), min_cell=args.min_cell)

    result = _computed(args, args.by, compute)
    if result is None:
        return 2
    table, model = result
    _print_table(args, table, {"model": model})
    print(
        f"model: logistic regression of response at day {model['timepoint'][0]:g} ± {model['timepoint'][1]:g} on "
        f"{', '.join(model['variables'])}, fitted on the whole clinic's {model['n_clients']} evaluable clients "
        f"({model['n_responders']} responders); adjustment covers only what was measured",
        file=sys.stderr,
    )
    return 0


def _estimand(args) -> int:
    from dashboard import outcomes

    table = _computed(args, args.by, lambda con, c: outcomes.mmrm(con, c, args.at_days, min_cell=args.min_cell))
    if table is None:
        return 2
    _print_table(args, table)
    return 0


def _alerts(args) -> int:
    from dashboard import expected

    def compute(con, cohort):
        if args.table == "quality":
            return expected.alert_quality(con, cohort, min_cell=args.min_cell)
        return expected.off_track(con, cohort)

    table = _computed(args, "none", compute)
    if table is None:
        return 2
    _print_table(args, table)
    if args.table == "off-track":
        print("note: client ids, for use inside the clinic only", file=sys.stderr)
    return 0


def _exact_note(args) -> None:
    if args.exact:
        print(
            "note: exact counts, for use inside the clinic only; leave out --exact for output to share", file=sys.stderr
        )


def _attrition(args) -> int:
    import json

    import pandas as pd

    from dashboard import outcomes
    from dashboard.cohort import Cohort
    from dashboard.export import neutralise
    from dashboard.settings import load

    settings = load()
    path = _existing_store(args.db)
    if path is None:
        return 2
    con = _open_current(path, settings)
    try:
        cohort = outcomes.resolve(
            con, Cohort(args.instrument, _filters(args), args.by, settings, rounded=not args.exact)
        )
        if args.table == "weeks":
            km = outcomes.attrition(con, cohort, min_cell=args.min_cell)
            days = [7 * w for w in args.weeks]
            parts = []
            for measure in outcomes.ATTRITION_MEASURES:
                at = outcomes.share_at(km[km.measure == measure], days)
                at = at.rename(
                    columns={
                        "share": f"still_{measure}",
                        "ci_low": f"{measure}_ci_low",
                        "ci_high": f"{measure}_ci_high",
                        "remaining": f"n_still_{measure}",
                    }
                )
                parts.append(at.set_index(["group", "day"]))
            table = pd.concat(parts, axis=1).reset_index() if parts else pd.DataFrame(columns=["group", "day"])
            table.insert(1, "week", [d / 7 for d in table.day])
            table = table.drop(columns="day")
        elif args.table == "stopping-dose":
            table = outcomes.stopping_dose(con, cohort, min_cell=args.min_cell)
        else:
            table = outcomes.reconciliation(con, cohort, min_cell=args.min_cell)
    except outcomes.OutcomeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        con.close()
    for c in table.columns:
        if c.startswith(("still_", "share")) or c.endswith(("_ci_low", "_ci_high")) or c in ("ci_low", "ci_high"):
            table[c] = [
                None if v is None or pd.isna(v) else round(float(v), 2 if cohort.rounded else 4) for v in table[c]
            ]
    if "group" in table.columns:
        table["group"] = table["group"].map(neutralise)
    if args.format == "json":
        print(json.dumps(json.loads(table.to_json(orient="records")), indent=1))
    else:
        sys.stdout.write(table.to_csv(index=False, lineterminator="\n"))
    _exact_note(args)
    return 0


def _csv(table) -> str:
    """The outcomes table as CSV: suppressed and missing values empty, booleans lower case."""
    import io

    import pandas as pd

    from dashboard.export import neutralise

    out = table.copy()
    out["group"] = out["group"].map(neutralise)  # a stored label such as '+cmd' or '@SUM(...)' is not a formula
    for c in out.columns:
        if c.startswith(("response_", "remission_rate", "mean_")):
            out[c] = pd.to_numeric(out[c], errors="coerce")
    out["suppressed"] = out["suppressed"].map(lambda b: "true" if b else "false")
    for c in ("target_day", "window_days"):
        out[c] = out[c].map(lambda v: "" if v is None or v != v else f"{v:g}")
    buf = io.StringIO()
    out.to_csv(buf, index=False, float_format="%.4f", lineterminator="\n")
    return buf.getvalue()


def _filters(args):
    from dashboard import cohort

    return cohort.filters_from_args(args)


def _existing_store(db: str | None) -> Path | None:
    """The store a reading command names (--db, $OUTCOMES_DB or the default), or None after saying there is none."""
    path = store.resolve_path(db)
    if not store.is_lake(path) and not path.exists():
        print(f"error: {path}: no database here; import data or run `python -m dashboard demo`", file=sys.stderr)
        return None
    return path


def _open_current(path: Path, settings):
    """A read-only connection on derived tables built under `settings`: when they were built under others, they
    are rebuilt first (saying so on stderr), so no figure is read from stale tables."""
    from dashboard import derive, writer

    con = writer.reading(path, notify=_to_stderr, create=False)
    if derive.is_current(con, settings):
        return con
    con.close()
    with writer.writing(path, wait=writer.WAIT_SECONDS, notify=_to_stderr) as con:
        derive.ensure_current(con, settings, notify=_to_stderr)
    return store.connect(path, read_only=True)


class Progress:
    """Each file's stages on one line of a terminal, redrawn in place: "[2/3] scores.csv: checking…"."""

    def __init__(self, files):
        self.n, self.seen, self.width = len(files), [], 0

    def __call__(self, file: str, stage: str) -> None:
        if file not in self.seen:
            if self.seen:
                sys.stderr.write("\n")
            self.seen.append(file)
        from dashboard.ingest.importer import STAGES

        line = f"[{len(self.seen)}/{self.n}] {file}: {STAGES.get(stage, stage)}…"
        sys.stderr.write("\r" + line.ljust(self.width))
        self.width = len(line)
        sys.stderr.flush()

    def note(self, text: str) -> None:
        if self.seen:
            sys.stderr.write("\n")
            self.seen.append(text)
        sys.stderr.write(text)
        sys.stderr.flush()

    def done(self) -> None:
        if self.seen:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _report(args) -> int:
    from dashboard import report
    from dashboard.outcomes import OutcomeError, resolve

    path = _existing_store(args.db)
    if path is None:
        return 2
    from dashboard.cohort import Cohort
    from dashboard.settings import load

    settings = load()
    con = _open_current(path, settings)
    try:
        result = report.build(con, resolve(con, Cohort(args.instrument, _filters(args), settings=settings)))
    except OutcomeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        con.close()
    Path(args.out).write_text(result.html, encoding="utf-8")
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out}: {size / 1e6:.1f} MB, sections: {', '.join(result.sections)} ({result.seconds:.1f} s)")
    if args.pdf:
        try:
            report.write_pdf(args.out, args.pdf)
        except (RuntimeError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {args.pdf}")
    return 0
