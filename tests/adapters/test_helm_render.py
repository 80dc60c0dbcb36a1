"""Helm's rendering of charts (helm-sdkpy Install against the loopback stand-in cluster):
Helm's functions and objects evaluated, identical answers, concurrent renders, template
failures at their line, custom resources, hooks, deadlines, the process's driver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from helmforge.adapters import helm_render
from helmforge.adapters.archives import pack_chart
from helmforge.core.errors import ExternalServiceError, InputError

pytestmark = pytest.mark.helm

CHART = "apiVersion: v2\nname: demo\nversion: 0.1.0\nappVersion: 2.0.0\n"
VALUES = "replicas: 1\nlabels: {tier: web}\nextra:\n  enabled: false\n"
TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
  namespace: {{ .Release.Namespace }}
  labels:
    {{- toYaml .Values.labels | nindent 4 }}
data:
  replicas: {{ .Values.replicas | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  chart: {{ printf "%s-%s" .Chart.Name .Chart.AppVersion | quote }}
{{- if .Values.extra.enabled }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  ports: [{port: 80}]
{{- end }}
"""


def files(template: str = TEMPLATE, *, name: str = "cm.yaml") -> dict[str, bytes]:
    return {
        "Chart.yaml": CHART.encode(),
        "values.yaml": VALUES.encode(),
        f"templates/{name}": template.encode(),
    }


def write_chart(root: Path, chart_files: dict[str, bytes]) -> Path:
    for path, data in chart_files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root


def render(chart: Path | bytes, values: dict[str, object], **options: object) -> str:
    return helm_render.render_chart(
        chart,
        values,
        release_name="shop",
        namespace="team-a",
        **options,  # type: ignore[arg-type]
    )


def test_helm_evaluates_release_capabilities_to_yaml_and_conditionals(tmp_path: Path) -> None:
    chart = write_chart(tmp_path / "demo", files())
    plain = render(chart, {"replicas": 3}, kube_version="1.30")
    assert plain == (
        "---\n"
        "# Source: demo/templates/cm.yaml\n"
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: shop-config\n"
        "  namespace: team-a\n"
        "  labels:\n"
        "    tier: web\n"
        "data:\n"
        '  replicas: "3"\n'
        '  kube: "v1.30.0"\n'
        '  chart: "demo-2.0.0"\n'
        "\n"
    )
    both = render(chart, {"extra": {"enabled": True}, "labels": {"a": "b", "c": "d"}})
    assert "    a: b\n    c: d\n" in both
    assert '  kube: "v1.31.0"\n' in both  # the default Kubernetes version
    assert "---\n# Source: demo/templates/cm.yaml\napiVersion: v1\nkind: Service\n" in both


def test_the_same_chart_renders_byte_identical_from_a_folder_and_from_archive_bytes(
    tmp_path: Path,
) -> None:
    chart = write_chart(tmp_path / "demo", files())
    first = render(chart, {"replicas": 2})
    assert render(chart, {"replicas": 2}) == first
    assert render(pack_chart("demo", files()), {"replicas": 2}) == first


def test_concurrent_renders_from_threads_each_get_their_own_values(tmp_path: Path) -> None:
    archive = pack_chart("demo", files())
    results: dict[int, str] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work(replicas: int) -> None:
        start.wait()
        try:
            results[replicas] = render(archive, {"replicas": replicas})
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for replicas, text in results.items():
        assert f'  replicas: "{replicas}"\n' in text
    assert len(results) == 4


def test_a_failing_template_is_an_input_error_at_the_file_and_line_helm_names(
    tmp_path: Path,
) -> None:
    failing = TEMPLATE + '{{ required "labels.owner must be set" .Values.labels.owner }}\n'
    chart = write_chart(tmp_path / "demo", files(failing))
    with pytest.raises(InputError) as raised:
        render(chart, {})
    assert raised.value.location is not None
    assert (raised.value.location.source, raised.value.location.line) == (
        "demo/templates/cm.yaml",
        21,
    )
    assert "labels.owner must be set" in raised.value.message

    unclosed = write_chart(tmp_path / "unclosed", files("a: 1\n{{ if .Values.x }}\nb: 2\n"))
    with pytest.raises(InputError) as eof:  # "unexpected EOF" is the template's, not the wire's
        render(unclosed, {})
    assert "unexpected EOF" in eof.value.message
    assert eof.value.location is not None
    assert eof.value.location.source == "demo/templates/cm.yaml"

    unknown = write_chart(tmp_path / "other", files("a: {{ nosuch .Values.x }}\n"))
    with pytest.raises(InputError) as parse:
        render(unknown, {})
    assert 'function "nosuch" not defined' in parse.value.message
    assert parse.value.location is not None
    assert parse.value.location.line == 1


def test_a_chart_helm_cannot_load_is_an_input_error_naming_the_source(tmp_path: Path) -> None:
    broken = files()
    broken["Chart.yaml"] = b"apiVersion: v2\nname: demo\n"  # no version
    chart = write_chart(tmp_path / "demo", broken)
    with pytest.raises(InputError) as raised:
        render(chart, {}, source="chart demo of shop@1.0.0")
    assert raised.value.location is not None
    assert raised.value.location.source == "chart demo of shop@1.0.0"
    assert "version" in raised.value.message


def test_a_custom_resource_renders_once_its_kind_is_learned(tmp_path: Path) -> None:
    widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {{ .Release.Name }}\n"
    chart = write_chart(tmp_path / "demo", files(widget))
    text = render(chart, {})
    assert "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: shop\n" in text
    # Hooks and an unknown kind: Helm runs the hook again on the attempt that knows the kind.
    with_hook = write_chart(
        tmp_path / "hooked", {**files(widget), "templates/hooks.yaml": HOOKS.encode()}
    )
    hooked = render(with_hook, {})
    assert "kind: Widget\n" in hooked
    assert hooked.count("  name: shop-migrate\n") == 1


HOOKS = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-delete-policy: hook-succeeded,before-hook-creation
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: "migrate:{{ .Chart.AppVersion }}"}]
---
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-seed
  annotations:
    helm.sh/hook: post-install
stringData: {token: {{ .Values.replicas | quote }}}
"""


def test_hooks_helm_waits_for_render_after_the_manifest_as_helm_template_prints_them(
    tmp_path: Path,
) -> None:
    chart = write_chart(tmp_path / "demo", {**files(), "templates/hooks.yaml": HOOKS.encode()})
    text = render(chart, {"replicas": 4})
    manifest, _, hooks = text.partition("---\n# Source: demo/templates/hooks.yaml\n")
    assert "kind: ConfigMap\n" in manifest
    assert "kind: Job\n" not in manifest
    assert "  name: shop-migrate\n" in hooks
    assert 'containers: [{name: migrate, image: "migrate:2.0.0"}]' in hooks
    assert "  name: shop-seed\n" in text
    assert 'stringData: {token: "4"}' in text
    assert render(chart, {"replicas": 4}) == text


def test_a_spent_deadline_fails_at_once_and_a_bad_kubernetes_version_is_refused(
    tmp_path: Path,
) -> None:
    chart = write_chart(tmp_path / "demo", files())
    with pytest.raises(ExternalServiceError, match="deadline"):
        render(chart, {}, deadline=0)
    with pytest.raises(InputError, match=r"MAJOR\.MINOR"):
        render(chart, {}, kube_version="latest")


def test_the_stand_in_listens_on_loopback_and_answers_only_renders_in_progress(
    tmp_path: Path,
) -> None:
    render(write_chart(tmp_path / "demo", files()), {})
    server = helm_render._stand_in()
    assert server.server_address[0] == "127.0.0.1"
    assert server.clusters == {}  # each render's discovery is gone with it
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/version").status_code == 404
        assert client.get("/r/unknown/version").status_code == 404
        assert client.post("/r/unknown/api/v1/namespaces/x/secrets", content=b"{}").status_code == (
            404
        )


def test_with_helm_driver_memory_the_render_is_the_same(tmp_path: Path) -> None:
    """Go reads the environment the process started with: the memory driver (no release
    Secret sent to the stand-in) needs a process of its own."""
    chart = write_chart(tmp_path / "demo", files())
    here = render(chart, {"replicas": 5})
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from helmforge.adapters.helm_render import render_chart\n"
        "print(json.dumps(render_chart(Path(sys.argv[1]), {'replicas': 5}, "
        "release_name='shop', namespace='team-a')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(chart)],
        env={**os.environ, "HELM_DRIVER": "memory"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(done.stdout) == here


def test_without_helm_sdkpy_rendering_is_an_external_service_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(helm_render, "render_available", lambda: False)
    with pytest.raises(ExternalServiceError, match="helm-sdkpy is not installed"):
        render(write_chart(tmp_path / "demo", files()), {})


def test_a_stand_in_helm_cannot_reach_is_an_external_service_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = helm_render._StandIn()
    closed.server_close()  # its port now refuses connections
    monkeypatch.setattr(helm_render, "_stand_in", lambda: closed)
    with pytest.raises(ExternalServiceError, match="Helm could not render the chart"):
        render(write_chart(tmp_path / "demo", files()), {})
