"""The generation use case: charts Helm accepts, reproducible archives, all-or-nothing writes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from helmforge.adapters.archives import pack_chart, read_chart_archive
from helmforge.core.contexts import Context, parse_context
from helmforge.core.errors import InputError, TooLargeError
from helmforge.services import generation
from helmforge.services.chart_checks import lint_chart
from helmforge.services.generation import (
    ChartOutput,
    generate_charts,
    load_template,
    package_chart_folder,
    render_charts,
    write_outputs,
)
from tests.support.charts import EXAMPLE
from tests.support.helm import assert_helm_lints, helm_show_chart

pytestmark = pytest.mark.xdist_group("generation")


def context(environment: str = "prod", instance: str = "a1", version: str = "2.4.1") -> Context:
    return parse_context(
        {
            "product": "shop",
            "customer": "acme",
            "environment": environment,
            "instance": instance,
            "version": version,
        }
    )


def listing(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.helm
def test_one_chart_folder_lints_everywhere(tmp_path: Path) -> None:
    result = generate_charts(EXAMPLE, [context()], out_dir=tmp_path)
    chart = tmp_path / "shop-acme-prod-a1"
    assert result.paths == (chart,)
    assert listing(tmp_path)[0] == "shop-acme-prod-a1"
    assert {"Chart.yaml", "values.yaml", "values.schema.json", ".helmignore", "README.md"} <= {
        path.name for path in chart.iterdir()
    }
    assert (chart / "templates" / "_helpers.tpl").is_file()
    assert_helm_lints(chart)
    report = lint_chart(chart)
    assert report.ok, report
    assert report.helm.ran


@pytest.mark.helm
def test_package_is_reproducible_and_helm_reads_it(tmp_path: Path) -> None:
    digests = set()
    for attempt in range(5):
        out = tmp_path / f"run{attempt}"
        (archive,) = generate_charts(EXAMPLE, [context()], out_dir=out, package=True).paths
        assert archive == out / "shop-acme-prod-a1-2.4.1.tgz"
        assert listing(out) == ["shop-acme-prod-a1-2.4.1.tgz"]
        digests.add(hashlib.sha256(archive.read_bytes()).hexdigest())
    assert len(digests) == 1
    assert "name: shop-acme-prod-a1" in helm_show_chart(archive)
    assert_helm_lints(archive)
    assert lint_chart(archive).ok
    # Packing the generated folder gives the very same bytes as generate --package.
    folder = generate_charts(EXAMPLE, [context()], out_dir=tmp_path / "folder").paths[0]
    repacked = package_chart_folder(folder, out_dir=tmp_path / "repacked")
    assert repacked.read_bytes() == archive.read_bytes()


def test_overrides_reach_values_and_bad_ones_write_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    generate_charts(
        EXAMPLE, [context()], out_dir=out, overrides={"replicaCount": 7, "logLevel": "error"}
    )
    values = (out / "shop-acme-prod-a1" / "values.yaml").read_text()
    assert "replicaCount: 7" in values
    assert "logLevel: error" in values
    for bad, expected in [
        ({"replicaCount": "three"}, "values.replicaCount: 'three' is not of type 'integer'"),
        ({"replicaCont": 2}, r"values: unknown key\(s\) replicaCont; valid: autoscaling, "),
        ({"service": {"port": 70000}}, r"values\.service\.port: 70000 is greater than the maximum"),
    ]:
        fresh = tmp_path / "fresh"
        with pytest.raises(InputError, match=expected):
            generate_charts(EXAMPLE, [context()], out_dir=fresh, overrides=bad)
        assert not fresh.exists()


def test_a_failing_context_in_a_fleet_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    # 'staging' has no layer giving ingress.host, a required parameter.
    fleet = [context("dev", "a1"), context("prod", "a2"), context("staging", "a3")]
    with pytest.raises(InputError, match=r"ingress\.host"):
        generate_charts(EXAMPLE, fleet, out_dir=out, package=True)
    assert listing(out) == ["keep.txt"]


def test_chart_version_rules(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="chart-version"):
        generate_charts(EXAMPLE, [context(version="latest")], out_dir=tmp_path / "a")
    assert not (tmp_path / "a").exists()
    (path,) = generate_charts(
        EXAMPLE,
        [context(version="latest")],
        out_dir=tmp_path / "b",
        chart_version="1.0.0",
        package=True,
    ).paths
    assert path.name == "shop-acme-prod-a1-1.0.0.tgz"


def test_fleet_in_process_matches_one_by_one(tmp_path: Path) -> None:
    template = load_template(EXAMPLE)
    fleet = [context(environment, f"i{n}") for environment in ("dev", "prod") for n in range(3)]
    seen: list[tuple[int, int]] = []
    outputs, used = render_charts(
        template, fleet, package=True, workers=1, on_progress=lambda d, t: seen.append((d, t))
    )
    assert used == 1
    assert seen[-1] == (6, 6)
    assert [output.name for output in outputs] == [c.chart_name for c in fleet]
    single, _ = render_charts(template, [fleet[4]], package=True)
    assert single[0].archive == outputs[4].archive
    archive = outputs[4].archive
    assert archive is not None
    files = read_chart_archive(archive)
    assert json.loads(files["values.schema.json"])["type"] == "object"


def test_regenerating_replaces_folders_and_archives(tmp_path: Path) -> None:
    generate_charts(EXAMPLE, [context()], out_dir=tmp_path)
    stale = tmp_path / "shop-acme-prod-a1" / "templates" / "stale.yaml"
    stale.write_text("old")
    generate_charts(EXAMPLE, [context()], out_dir=tmp_path, overrides={"replicaCount": 4})
    assert not stale.exists()
    assert "replicaCount: 4" in (tmp_path / "shop-acme-prod-a1" / "values.yaml").read_text()
    assert [p for p in listing(tmp_path) if "/" not in p] == ["shop-acme-prod-a1"]


def test_write_outputs_is_all_or_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    good = ChartOutput("a", "1.0.0", archive=pack_chart("a", {"Chart.yaml": b"name: a\n"}))
    bad = ChartOutput("b", "1.0.0", files={"../escape": b"x"})
    with pytest.raises(InputError, match=r"^b: path '\.\./escape' must not contain "):
        write_outputs([good, bad], out_dir=out)
    assert not out.exists() or listing(out) == []
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(InputError, match="output folder"):
        write_outputs([good], out_dir=blocked)


def test_template_file_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match="cannot read template"):
        load_template(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: helmforge.dev/v1\nkind: Template\nmetadata: {name: Bad_Name}\n")
    with pytest.raises(InputError) as caught:
        load_template(broken)
    assert str(broken) in str(caught.value) or any(
        str(broken) in str(problem) for problem in caught.value.problems
    )
    monkeypatch.setattr(generation, "MAX_TEMPLATE_BYTES", 10)
    with pytest.raises(
        TooLargeError, match=r"web-service\.yaml: \d+ bytes is over the template limit of 10 bytes$"
    ):
        load_template(EXAMPLE)


def test_package_chart_folder_refuses_non_charts(tmp_path: Path) -> None:
    folder = tmp_path / "chart"
    folder.mkdir()
    (folder / "values.yaml").write_text("a: 1\n")
    with pytest.raises(InputError, match=r"no Chart\.yaml"):
        package_chart_folder(folder, out_dir=tmp_path / "out")
    (folder / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: v1\n")
    with pytest.raises(InputError, match="SemVer"):
        package_chart_folder(folder, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.helm
def test_lint_reports_values_that_break_the_schema(tmp_path: Path) -> None:
    chart = generate_charts(EXAMPLE, [context()], out_dir=tmp_path).paths[0]
    values = chart / "values.yaml"
    values.write_text(values.read_text().replace("replicaCount: 3", 'replicaCount: "three"'))
    report = lint_chart(chart)
    assert not report.ok
    assert any("replicaCount" in problem for problem in report.problems)
    schema = json.loads((chart / "values.schema.json").read_text())
    schema["properties"]["x"] = {"$ref": "https://example.com/evil.json"}
    (chart / "values.schema.json").write_text(json.dumps(schema))
    assert any(
        "$ref 'https://example.com/evil.json': only references inside this file" in problem
        for problem in lint_chart(chart).problems
    )


def test_output_of_another_kind_in_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "shop-acme-prod-a1").write_text("a file where the chart folder goes")
    with pytest.raises(InputError, match="is a file"):
        generate_charts(EXAMPLE, [context()], out_dir=tmp_path)
    assert listing(tmp_path) == ["shop-acme-prod-a1"]


@pytest.mark.helm
def test_hostile_override_text_stays_literal(tmp_path: Path) -> None:
    hostile = '{{ .Values.missing.deep }} {{ lookup "v1" "Secret" "" "" }}\nkind: Secret'
    (chart,) = generate_charts(
        EXAMPLE, [context()], out_dir=tmp_path, overrides={"greeting": hostile}
    ).paths
    assert_helm_lints(chart)
    assert lint_chart(chart).ok
