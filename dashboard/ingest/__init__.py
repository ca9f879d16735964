"""Import: read a clinic's anonymised export, map its columns, validate every row, refuse identifiers,
and store it in one transaction with a full account of what was imported, rejected or already there."""

from dashboard.ingest.importer import FileReport, ImportBusy, import_file, import_files

__all__ = ["FileReport", "ImportBusy", "import_file", "import_files"]
