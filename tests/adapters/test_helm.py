"""The Helm adapter over helm-sdkpy: lint findings, package, and a missing helm-sdkpy."""

from __future__ import annotations

from pathlib import Path

import pytest

from helmforge.adapters import helm
from helmforge.core.errors import ExternalServiceError, InputError

pytestmark = pytest.mark.helm


def write_chart(root: Path, *, template: str) -> Path:
    (root / "templates").mkdir(parents=True)
    (root / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (root / "values.yaml").write_text("a: 1\n")
    (root / "templates" / "cm.yaml").write_text(template)
    return root


GOOD = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: {{ .Values.a | quote }}\n"
)


def test_lint_of_a_good_chart(tmp_path: Path) -> None:
    result = helm.helm_lint(write_chart(tmp_path / "demo", template=GOOD))
    assert result.ran
    assert result.errors == ()
    assert all(finding.severity_name in ("info", "warning") for finding in result.findings)


def test_lint_reports_errors_by_file(tmp_path: Path) -> None:
    broken = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.missing.deep }}\n"
    result = helm.helm_lint(write_chart(tmp_path / "demo", template=broken))
    assert result.errors
    assert result.errors[0].severity_name == "error"


def test_lint_of_nothing_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="Helm cannot load the chart"):
        helm.helm_lint(tmp_path / "absent")


def test_package_writes_the_archive_and_keeps_stdout_clean(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    chart = write_chart(tmp_path / "demo", template=GOOD)
    archive = helm.helm_package(chart, out_dir=tmp_path)
    assert archive == tmp_path / "demo-0.1.0.tgz"
    assert archive.is_file()
    assert capfd.readouterr().out == ""


def test_without_helm_sdkpy_lint_is_skipped_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(helm, "helm_available", lambda: False)
    result = helm.helm_lint(tmp_path)
    assert not result.ran
    assert "helm-sdkpy is not installed" in result.note
    with pytest.raises(ExternalServiceError, match="not installed"):
        helm.helm_package(tmp_path, out_dir=tmp_path)
