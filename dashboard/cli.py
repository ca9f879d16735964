"""The command line: `python -m dashboard demo | import`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dashboard import store
from dashboard.ingest.contract import KINDS


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

    imp = sub.add_parser("import", help="import anonymised CSV, XLSX or Parquet files")
    imp.add_argument("files", nargs="+", metavar="FILE")
    imp.add_argument("--db", help="database file (default $OUTCOMES_DB or data/outcomes.duckdb)")
    imp.add_argument("--kind", choices=KINDS, help="the kind of every file (default: detected from columns)")
    imp.add_argument("--instruments", metavar="FILE", help="TOML file defining additional instruments")
    imp.add_argument("--replace", action="store_true", help="overwrite stored values that conflict")
    imp.add_argument("--rejects", metavar="PATH", help="write every rejected row to this CSV file")
    return p


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
    except store.StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 2


def _demo(args) -> int:
    from dashboard.demo import build_demo

    result = build_demo(args.db or store.DEMO_DB, n_clients=args.clients, seed=args.seed)
    for r in result["reports"]:
        print(r.summary())
    print(
        f"demo database {result['path']}: {result['clients']:,} clients, {result['sessions']:,} sessions, "
        f"{result['scores']:,} scores in {result['seconds_total']:.1f} s"
    )
    return 0 if all(r.ok for r in result["reports"]) else 1


def _import(args) -> int:
    from dashboard.demo import _derive_hook
    from dashboard.export import write_rejects_csv
    from dashboard.ingest import import_files
    from dashboard.instruments import InstrumentError

    missing = [f for f in args.files if not Path(f).is_file()]
    if missing:
        print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    con = store.connect(store.resolve_path(args.db))
    try:
        reports = import_files(con, args.files, kind=args.kind, replace=args.replace,
                               instrument_file=args.instruments, after_import=_derive_hook())
    except InstrumentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        con.close()
    for r in reports:
        print(r.summary())
        for row in r.rejects.head(10).itertuples():
            col = f", column {row.column}" if isinstance(row.column, str) else ""
            print(f"    line {row.line}{col}: {row.reason}")
        if len(r.rejects) > 10:
            print(f"    … and {len(r.rejects) - 10:,} more" + ("" if args.rejects else " (use --rejects PATH)"))
    if args.rejects:
        n = write_rejects_csv(reports, args.rejects)
        print(f"wrote {n:,} rejected rows to {args.rejects}")
    return 0 if all(r.ok for r in reports) else 1
