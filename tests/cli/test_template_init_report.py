"""`template init` tells the creator every change it made to the imported objects (stderr)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from helmforge.cli.main import app

MULTI_NAMESPACE = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop, labels: {app.kubernetes.io/name: settings}}
data: {mode: fast}
---
apiVersion: v1
kind: Secret
metadata: {name: token, namespace: shop}
stringData: {token: s3cret-value}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: scraper, namespace: monitoring}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: scraper, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: scraper, namespace: monitoring}]
"""


def test_template_init_prints_none_of_the_changes_it_made(tmp_path: Path) -> None:
    source = tmp_path / "in.yaml"
    source.write_text(MULTI_NAMESPACE)
    result = CliRunner().invoke(
        app,
        [
            "template",
            "init",
            "--from",
            str(source),
            "--name",
            "shop",
            "--out",
            str(tmp_path / "t.yaml"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{tmp_path / 't.yaml'}\n"
    assert result.stderr.splitlines() == [
        "changed: ConfigMap/settings: label app.kubernetes.io/name=settings removed (helmforge "
        "sets its own value on every object)",
        "changed: Secret/token: values of token became required parameters without defaults "
        "(the imported values were dropped)",
        "changed: namespace monitoring in the references of RoleBinding/scraper follows the "
        "release namespace (${release.namespace})",
        "changed: metadata.namespace monitoring removed from ServiceAccount/scraper: they "
        "install into the release namespace",
        "changed: metadata.namespace shop removed from ConfigMap/settings, Secret/token, "
        "RoleBinding/scraper: they install into the release namespace",
        "changed: the objects came from 2 namespaces (monitoring, shop); the chart installs all "
        "of them into the one release namespace (split the input into one template per "
        "namespace to keep them apart)",
    ]
    assert "s3cret-value" not in result.output
