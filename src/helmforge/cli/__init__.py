"""Command line (Typer)."""
