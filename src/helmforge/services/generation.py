"""Generate charts: a template and contexts in, chart folders or reproducible archives out.

This is the use case behind ``helmforge generate`` and ``helmforge package`` (and the API's
chart builds later). Everything is rendered in memory first, so bad input fails before anything
is written; then the results are written into a temporary folder inside the output folder and
moved into place at the end. On failure nothing is left in the output folder.

A fleet (many contexts) renders in worker processes when that pays: the template and schema
set are handed to each worker once, contexts go out in chunks, and rendered charts or archives
come back.
"""

from __future__ import annotations

__all__ = [
    "MAX_TEMPLATE_BYTES",
    "PARALLEL_THRESHOLD",
    "ChartOutput",
    "GenerationResult",
    "TemplateSource",
    "check_template_file",
    "generate_charts",
    "load_template",
    "package_chart_folder",
    "render_charts",
    "write_outputs",
]

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helmforge import __version__
from helmforge.adapters.archives import (
    archive_file_name,
    check_chart_folder_name,
    check_relative_path,
    pack_chart,
    read_chart_folder,
)
from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.contexts import Context
from helmforge.core.errors import InputError, Location, TooLargeError
from helmforge.core.templates.models import Problem, Template
from helmforge.core.templates.parsing import parse_template, validate_template
from helmforge.core.versions import is_semver
from helmforge.core.yaml_codec import load_single

if TYPE_CHECKING:
    from concurrent.futures import Future

    from helmforge.core.charts.rendering import RenderedChart
    from helmforge.core.schemas.kubernetes import SchemaSet

MAX_TEMPLATE_BYTES = 8 * 1024 * 1024
#: Fleets smaller than this render in-process: starting workers costs more than it saves.
PARALLEL_THRESHOLD = 48
_CHUNKS_PER_WORKER = 4

#: A template given by its file, or already parsed (the server passes one from its store).
type TemplateSource = Path | Template
type ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ChartOutput:
    """One generated chart, ready to write: a folder of files or one archive."""

    name: str
    version: str
    files: Mapping[str, bytes] = field(default_factory=dict)
    archive: bytes | None = None

    @property
    def target_name(self) -> str:
        """The name this output takes in the output folder."""
        return self.name if self.archive is None else archive_file_name(self.name, self.version)


@dataclass(frozen=True, slots=True)
class GenerationResult:
    """What a generation wrote: one path per context, in context order, and how long it took."""

    paths: tuple[Path, ...]
    seconds: float
    workers: int


def load_template(source: TemplateSource) -> Template:
    """The parsed template of ``source``: a file path (read and parsed) or a ``Template``.

    Raises ``InputError`` naming the file for an unreadable file or every problem in it, and
    ``TooLargeError`` for a file over ``MAX_TEMPLATE_BYTES``.
    """
    if isinstance(source, Template):
        return source
    try:
        size = source.stat().st_size
        if size > MAX_TEMPLATE_BYTES:
            raise TooLargeError(
                f"{size} bytes is over the template limit of {MAX_TEMPLATE_BYTES} bytes",
                location=Location(str(source)),
            )
        content = source.read_bytes()
    except OSError as error:
        raise InputError(
            f"cannot read template: {error.strerror}", location=Location(str(source))
        ) from None
    return parse_template(content, source=str(source))


def check_template_file(path: Path) -> list[Problem]:
    """Every problem of the template file at ``path`` against the Kubernetes schemas of its
    ``spec.kubernetesVersion`` (warnings included; sorted by location).

    Raises ``InputError`` like ``load_template`` when the file cannot be read or parsed, and
    naming ``spec.kubernetesVersion`` when helmforge has no schemas for that version.
    """
    template = load_template(path)
    schemas = load_schema_set(
        template.kubernetes_version, location=template.where(("spec", "kubernetesVersion"))
    )
    return validate_template(template, schemas=schemas)


@dataclass(slots=True)
class _Job:
    """What each renderer (in-process or worker) needs; handed to a worker once."""

    template: Template
    schemas: SchemaSet
    overrides: Mapping[str, Any]
    chart_version: str | None
    package: bool

    def render(self, context: Context) -> ChartOutput:
        from helmforge.core.charts.rendering import render_chart

        chart: RenderedChart = render_chart(
            self.template,
            context,
            schemas=self.schemas,
            overrides=self.overrides,
            chart_version=self.chart_version,
            generator_version=__version__,
        )
        if self.package:
            return ChartOutput(
                chart.name, chart.version, archive=pack_chart(chart.name, chart.files)
            )
        return ChartOutput(chart.name, chart.version, files=chart.files)


_worker_job: _Job | None = None


def _start_worker(job: _Job) -> None:
    global _worker_job  # noqa: PLW0603 - the one per-process state a pool worker keeps
    _worker_job = job


def _render_in_worker(contexts: Sequence[Context]) -> list[ChartOutput]:
    assert _worker_job is not None, "worker started without a job"
    return [_worker_job.render(context) for context in contexts]


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _worker_count(total: int, workers: int | None) -> int:
    if workers is not None:
        return max(1, min(workers, total))
    if total < PARALLEL_THRESHOLD:
        return 1
    # Each worker should get at least half a threshold of charts to earn its start-up.
    return max(1, min(_usable_cpus(), total // (PARALLEL_THRESHOLD // 2)))


def _chunks(contexts: Sequence[Context], count: int) -> list[Sequence[Context]]:
    size = -(-len(contexts) // count)
    return [contexts[start : start + size] for start in range(0, len(contexts), size)]


def render_charts(
    template: Template,
    contexts: Sequence[Context],
    *,
    overrides: Mapping[str, Any] | None = None,
    chart_version: str | None = None,
    package: bool = False,
    workers: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> tuple[list[ChartOutput], int]:
    """Render one chart per context in memory; returns the outputs in context order and the
    number of processes used.

    ``workers`` of ``None`` picks in-process rendering for small fleets and one worker per CPU
    otherwise. ``on_progress(done, total)`` is called as charts complete (in a fleet, first
    once every worker has started). Raises ``InputError`` for the first context that cannot be
    rendered (a missing required value, overrides that break the schema, a bad chart version).
    """
    job = _Job(
        template=template,
        schemas=load_schema_set(
            template.kubernetes_version, location=template.where(("spec", "kubernetesVersion"))
        ),
        overrides=dict(overrides or {}),
        chart_version=chart_version,
        package=package,
    )
    total = len(contexts)
    count = _worker_count(total, workers)
    if count == 1:
        outputs: list[ChartOutput] = []
        for context in contexts:
            outputs.append(job.render(context))
            if on_progress is not None:
                on_progress(len(outputs), total)
        return outputs, 1
    # The parent renders the first chart itself: a bad input fails before any worker starts,
    # and the template's caches are warm when the workers are forked from this process.
    first = job.render(contexts[0])
    chunks = _chunks(contexts[1:], count * _CHUNKS_PER_WORKER)
    # Imported here: a single chart should not pay for the process pool machinery.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    mp_context = multiprocessing.get_context("fork" if "fork" in methods else None)
    with ProcessPoolExecutor(
        max_workers=count, mp_context=mp_context, initializer=_start_worker, initargs=(job,)
    ) as pool:
        futures: list[Future[list[ChartOutput]]] = [
            pool.submit(_render_in_worker, chunk) for chunk in chunks
        ]
        done = 1
        if on_progress is not None:
            on_progress(done, total)
        try:
            results: list[list[ChartOutput]] = []
            for future, chunk in zip(futures, chunks, strict=True):
                results.append(future.result())
                done += len(chunk)
                if on_progress is not None:
                    on_progress(done, total)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return [first, *(output for chunk_outputs in results for output in chunk_outputs)], count


@contextlib.contextmanager
def _staging(out_dir: Path) -> Iterator[Path]:
    """A temporary folder inside ``out_dir``, removed afterwards whatever happens."""
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".helmforge-", dir=out_dir))
    except OSError as error:
        raise InputError(
            f"cannot write to the output folder: {error.strerror}", location=Location(str(out_dir))
        ) from None
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                out_dir.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)


def _write_files(folder: Path, files: Mapping[str, bytes]) -> None:
    for relative, content in files.items():
        target = folder.joinpath(*check_relative_path(relative, source=folder.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def write_outputs(outputs: Sequence[ChartOutput], *, out_dir: Path) -> tuple[Path, ...]:
    """Write chart folders / archives into ``out_dir`` all together or not at all.

    Existing charts of the same name are replaced. Returns the written paths in order. Raises
    ``InputError`` when the output folder cannot be written (nothing is left in it then).
    """
    for output in outputs:
        check_chart_folder_name(output.name)
        check_chart_folder_name(output.target_name)
        final = out_dir / output.target_name
        if final.exists() and final.is_dir() != (output.archive is None):
            kind = "a folder" if final.is_dir() else "a file"
            raise InputError(
                f"{final} is {kind}; remove it or choose another --out",
                location=Location(str(out_dir)),
            )
    with _staging(out_dir) as staging:
        try:
            for output in outputs:
                staged = staging / output.target_name
                if output.archive is not None:
                    staged.write_bytes(output.archive)
                else:
                    _write_files(staged, output.files)
            paths: list[Path] = []
            for output in outputs:
                final = out_dir / output.target_name
                if final.is_dir() and not final.is_symlink():
                    os.replace(final, staging / f".old-{output.target_name}")
                os.replace(staging / output.target_name, final)
                paths.append(final)
        except OSError as error:
            raise InputError(
                f"cannot write {error.filename or 'the output'}: {error.strerror}",
                location=Location(str(out_dir)),
            ) from None
    return tuple(paths)


def generate_charts(
    source: TemplateSource,
    contexts: Sequence[Context],
    *,
    out_dir: Path,
    overrides: Mapping[str, Any] | None = None,
    chart_version: str | None = None,
    package: bool = False,
    workers: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> GenerationResult:
    """Generate one chart per context into ``out_dir``: ``<name>/`` folders, or with
    ``package`` only ``<name>-<version>.tgz`` archives.

    Everything is rendered and checked before anything is written; on any error nothing is
    left in ``out_dir``. Raises ``InputError`` (with the file, line or value path) for bad
    templates, contexts, overrides or chart versions.
    """
    started = time.perf_counter()
    if not contexts:
        raise InputError("no contexts to generate charts for")
    template = load_template(source)
    outputs, used = render_charts(
        template,
        contexts,
        overrides=overrides,
        chart_version=chart_version,
        package=package,
        workers=workers,
        on_progress=on_progress,
    )
    paths = write_outputs(outputs, out_dir=out_dir)
    return GenerationResult(paths=paths, seconds=time.perf_counter() - started, workers=used)


def _chart_identity(files: Mapping[str, bytes], *, source: str) -> tuple[str, str]:
    if "Chart.yaml" not in files:
        raise InputError("no Chart.yaml: this is not a chart folder", location=Location(source))
    where = f"{source}/Chart.yaml"
    metadata = load_single(files["Chart.yaml"], source=where).data
    if not isinstance(metadata, dict):
        raise InputError("Chart.yaml must be a mapping", location=Location(where))
    name, version = metadata.get("name"), metadata.get("version")
    if not isinstance(name, str) or not name:
        raise InputError("name is required (a string)", location=Location(where, path="name"))
    if not isinstance(version, str) or not is_semver(version):
        raise InputError(
            f"version {version!r} is not a SemVer version such as 1.2.3",
            location=Location(where, path="version"),
        )
    return name, version


def package_chart_folder(chart_dir: Path, *, out_dir: Path) -> Path:
    """Pack a chart folder into ``out_dir/<name>-<version>.tgz`` reproducibly; returns its path.

    Raises ``InputError`` for a folder that is not a chart (no or bad Chart.yaml), links
    leaving it, devices, or an output folder that cannot be written.
    """
    files = read_chart_folder(chart_dir)
    name, version = _chart_identity(files, source=str(chart_dir))
    output = ChartOutput(name, version, archive=pack_chart(name, files))
    return write_outputs([output], out_dir=out_dir)[0]
