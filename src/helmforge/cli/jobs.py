"""``helmforge jobs show|wait ID`` (on a server, token in HELMFORGE_TOKEN) and ``helmforge
jobs worker`` (runs jobs of the local store: HELMFORGE_DATABASE_URL)."""

from __future__ import annotations

__all__ = ["print_job", "register"]

import json
import os
import signal
import threading
from typing import Annotated, Any

import typer

from helmforge.cli.errors import reporting_errors
from helmforge.cli.groups import command_group

jobs_app = command_group(help_text="Long fleet work: where a job stands, and job workers.")

Server = Annotated[str, typer.Option("--server", envvar="HELMFORGE_SERVER", help="Server URL.")]
JobId = Annotated[str, typer.Argument(help="The job's id (the 202 answer's \"job\").")]


def print_job(job: dict[str, Any]) -> None:
    """The job as JSON on stdout; exit 1 (its error on stderr) unless it succeeded or runs."""
    typer.echo(json.dumps(job, indent=2, sort_keys=True))
    if job.get("state") in ("failed", "cancelled"):
        typer.echo(
            f"helmforge: error: job {job.get('id')} {job.get('state')}: {job.get('error') or ''}",
            err=True,
        )
        raise typer.Exit(1)


def _progress(job: dict[str, Any]) -> None:
    progress = job.get("progress") or {}
    typer.echo(
        f"{job.get('id')}\t{job.get('state')}\t{progress.get('done')}/{progress.get('total')}",
        err=True,
    )


@jobs_app.command("show")
def show(job_id: JobId, *, server: Server) -> None:
    """Print the job (state, progress, result or error) as JSON."""
    from helmforge.services.remote_jobs import show_job

    with reporting_errors():
        job = show_job(server=server, token=os.environ.get("HELMFORGE_TOKEN", ""), job_id=job_id)
    print_job(job)


@jobs_app.command("wait")
def wait(job_id: JobId, *, server: Server) -> None:
    """Wait until the job ends (progress on stderr), then print it as JSON; exit 1 when it
    failed or was cancelled."""
    from helmforge.services.remote_jobs import wait_job

    with reporting_errors():
        job = wait_job(
            server=server,
            token=os.environ.get("HELMFORGE_TOKEN", ""),
            job_id=job_id,
            progress=_progress,
        )
    print_job(job)


@jobs_app.command("worker")
def worker() -> None:
    """Run jobs of the store (HELMFORGE_DATABASE_URL) until SIGTERM or Ctrl-C: on PostgreSQL
    beside every other worker and server, on SQLite beside this machine's servers."""
    from helmforge.services.job_workers import run_job_worker
    from helmforge.services.settings import load_settings

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_args: stop.set())
    with reporting_errors():
        run_job_worker(
            load_settings(os.environ),
            stop=stop,
            announce=lambda line: typer.echo(f"helmforge: {line}", err=True),
        )


def register(app: typer.Typer) -> None:
    """Add ``jobs`` to the ``helmforge`` application."""
    app.add_typer(jobs_app, name="jobs")
