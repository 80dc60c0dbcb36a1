"""Real Helm through helm-sdkpy (the Helm 4 Go library in a wheel), when it is installed.

helm-sdkpy is an optional dependency, imported on first use only: it loads a large shared
library. Its quirks shape this module: the API is async (each call goes through
``asyncio.run``); ``Pull`` crashes the process and is never called; lint reports a severity and a
file but no message; ``Package`` prints to standard output, so that output is silenced here.
"""

from __future__ import annotations

__all__ = [
    "HELM_MISSING_NOTE",
    "HelmFinding",
    "HelmLintResult",
    "helm_available",
    "helm_lint",
    "helm_package",
]

import asyncio
import contextlib
import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helmforge.core.errors import ExternalServiceError, InputError, Location

HELM_MISSING_NOTE = (
    "Helm lint skipped: helm-sdkpy is not installed (pip install 'helmforge[dev]' to enable it)"
)
SEVERITY_NAMES = {1: "info", 2: "warning", 3: "error", 4: "unknown"}
ERROR_SEVERITY = 3


@dataclass(frozen=True, slots=True)
class HelmFinding:
    """One lint finding: Helm gives only a severity and the file it concerns."""

    severity: int
    path: str

    @property
    def severity_name(self) -> str:
        return SEVERITY_NAMES.get(self.severity, str(self.severity))

    @property
    def is_error(self) -> bool:
        return self.severity >= ERROR_SEVERITY


@dataclass(frozen=True, slots=True)
class HelmLintResult:
    """Helm's verdict; ``ran`` is False (with ``note`` saying why) when Helm is not installed."""

    ran: bool
    findings: tuple[HelmFinding, ...] = ()
    note: str = ""

    @property
    def errors(self) -> tuple[HelmFinding, ...]:
        return tuple(finding for finding in self.findings if finding.is_error)


def helm_available() -> bool:
    """True when helm-sdkpy can be imported."""
    return importlib.util.find_spec("helm_sdkpy") is not None


def _helm() -> Any:
    import helm_sdkpy

    return helm_sdkpy


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence file descriptor 1 (Go writes there directly, past sys.stdout)."""
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def helm_lint(chart: Path) -> HelmLintResult:
    """Run Helm lint on a chart folder or .tgz.

    Returns the findings, or a result with ``ran=False`` when helm-sdkpy is missing. Raises
    ``InputError`` when Helm cannot load the chart at all.
    """
    if not helm_available():
        return HelmLintResult(ran=False, note=HELM_MISSING_NOTE)
    helm = _helm()
    try:
        raw = asyncio.run(helm.Lint(helm.Configuration()).run(str(chart)))
    except helm.HelmError as error:
        raise InputError(
            f"Helm cannot load the chart: {error}", location=Location(str(chart))
        ) from None
    findings = tuple(
        HelmFinding(severity=int(message.get("Severity", 4)), path=str(message.get("Path", "")))
        for message in raw.get("Messages") or []
    )
    return HelmLintResult(ran=True, findings=findings)


def helm_package(chart_dir: Path, *, out_dir: Path) -> Path:
    """Package a chart folder with Helm's own ``package`` action; returns the .tgz path.

    Raises ``ExternalServiceError`` when helm-sdkpy is missing or Helm refuses the chart.
    """
    if not helm_available():
        raise ExternalServiceError("helm-sdkpy is not installed; Helm's package is unavailable")
    helm = _helm()
    try:
        with _quiet_stdout():
            path = asyncio.run(helm.Package(helm.Configuration()).run(str(chart_dir), str(out_dir)))
    except helm.HelmError as error:
        raise ExternalServiceError(f"Helm package failed for {chart_dir}: {error}") from error
    return Path(path)
