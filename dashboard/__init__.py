"""Outcomes dashboard for ketamine clinics: import, store, compute and show treatment outcomes."""

__version__ = "0.1.0"
