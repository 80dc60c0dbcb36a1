"""parse_template: the DESIGN §3 format and every problem with its file, line and path."""

from __future__ import annotations

import textwrap

import pytest

from helmforge.core.errors import InputError
from helmforge.core.templates.parsing import parse_template
from helmforge.core.versions import is_semver
from tests.support.charts import EXAMPLE

MINIMAL = """\
apiVersion: helmforge.dev/v1
kind: Template
metadata:
  name: mini
  version: 0.1.0
spec:
  kubernetesVersion: "1.31"
  values:
    replicas: {default: 1, description: Pods}
  resources:
    - id: deployment
      manifest:
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: "${ctx.name}"}
        spec:
          replicas: ${values.replicas}
          selector: {matchLabels: {app: x}}
          template:
            metadata: {labels: {app: x}}
            spec:
              containers: [{name: app, image: nginx}]
"""


def problems_of(text: str) -> list[InputError]:
    with pytest.raises(InputError) as caught:
        parse_template(text, source="t.yaml")
    problems = list(caught.value.problems) or [caught.value]
    assert all(p.location is not None and p.location.source == "t.yaml" for p in problems)
    return problems


def messages(text: str) -> list[str]:
    return [str(problem) for problem in problems_of(text)]


def test_example_template_parses() -> None:
    template = parse_template(EXAMPLE.read_bytes(), source=str(EXAMPLE))
    assert template.name == "web-service"
    assert template.version == "1.2.0"
    assert template.kubernetes_version == "1.31"
    assert "image.repository" in template.parameters
    assert template.parameters["ingress.host"].required
    assert "image" in template.groups
    assert [r.id for r in template.resources][:3] == ["serviceaccount", "configmap", "deployment"]
    assert template.resources[5].when == {"environment": ("uat", "prod")}
    assert template.raw["kind"] == "Template"


def test_minimal_template_parses_with_bindings() -> None:
    template = parse_template(MINIMAL, source="t.yaml")
    (binding,) = template.bindings
    assert binding.parameter == "replicas"
    assert binding.path == ("spec", "replicas")
    assert binding.whole
    assert binding.line == 17


def test_unknown_keys_are_named_with_line_and_path() -> None:
    text = MINIMAL.replace("  kubernetesVersion", "  colour: red\n  kubernetesVersion")
    text = text.replace("replicas: {default: 1,", "replicas: {defualt: 1, default: 1,")
    found = messages(text)
    assert any("t.yaml:7: spec.colour: unknown key 'colour'" in m for m in found), found
    assert any("spec.values.replicas.defualt: unknown key" in m for m in found), found


@pytest.mark.parametrize("name", ["Web", "web_service", "-web", "", "a" * 64])
def test_bad_names_are_rejected(name: str) -> None:
    text = MINIMAL.replace("name: mini", f"name: '{name}'")
    assert any("metadata.name" in m for m in messages(text))


@pytest.mark.parametrize("version", ["v1", "1.0", "01.2.3", "1.2.3.4", "1.2.x"])
def test_bad_versions_are_rejected(version: str) -> None:
    text = MINIMAL.replace("version: 0.1.0", f"version: '{version}'")
    found = messages(text)
    assert any("t.yaml:5: metadata.version" in m and "SemVer" in m for m in found), found


def test_semver() -> None:
    assert is_semver("1.2.3")
    assert is_semver("1.2.3-rc.1+build.5")
    assert not is_semver("v1.2.3")
    assert not is_semver("1.2")
    assert not is_semver("1.02.3")


def test_undeclared_value_reference() -> None:
    text = MINIMAL.replace("replicas: ${values.replicas}", "replicas: ${values.replicaz}")
    found = messages(text)
    assert any(
        "t.yaml:17: spec.resources[0].manifest.spec.replicas: ${values.replicaz} is not a declared"
        in m
        for m in found
    ), found
    # ... and the declared one is now unused
    assert any("parameter replicas is declared but no resource uses it" in m for m in found)


def test_unknown_context_key() -> None:
    text = MINIMAL.replace('name: "${ctx.name}"', 'name: "${ctx.team}"')
    found = messages(text)
    assert any("unknown context key ${ctx.team}" in m and ":15:" in m for m in found), found


def test_when_on_unknown_context_key() -> None:
    text = MINIMAL.replace(
        "    - id: deployment\n", "    - id: deployment\n      when: {region: eu}\n"
    )
    found = messages(text)
    assert any("when on unknown context key 'region'" in m for m in found), found


def test_duplicate_ids_and_kind_names() -> None:
    resources = MINIMAL.split("  resources:\n")[1]
    text = MINIMAL + resources.replace("replicas: ${values.replicas}", "replicas: 2")
    found = messages(text)
    assert any("duplicate resource id 'deployment'" in m for m in found), found
    assert any("Deployment '${ctx.name}' is defined twice" in m for m in found), found


def test_every_problem_is_reported_at_once() -> None:
    text = (
        MINIMAL.replace("name: mini", "name: Mini")
        .replace("version: 0.1.0", "version: v1")
        .replace("${values.replicas}", "${values.nope}")
    )
    assert len(problems_of(text)) >= 4


def test_layer_values_must_be_declared_parameters() -> None:
    text = MINIMAL.replace(
        "  resources:\n",
        "  layers:\n    - when: {environment: prod}\n"
        "      values: {replicaCont: 3}\n  resources:\n",
    )
    found = messages(text)
    assert any("replicaCont is not a declared parameter; valid here: replicas" in m for m in found)


def test_defaults_may_not_reference_values() -> None:
    text = MINIMAL.replace(
        "    replicas: {default: 1, description: Pods}",
        '    replicas: {default: 1, description: Pods}\n    tag: {default: "${values.replicas}"}',
    )
    text = text.replace("image: nginx", 'image: "nginx:${values.tag}"')
    assert any("defaults may use ${ctx.KEY} but not ${values" in m for m in messages(text))


def test_parameter_without_default_must_be_required() -> None:
    text = MINIMAL.replace("{default: 1, description: Pods}", "{description: Pods}")
    assert any("needs a default, or required: true" in m for m in messages(text))


def test_schema_refs_are_rejected() -> None:
    text = MINIMAL.replace(
        "{default: 1, description: Pods}",
        "{default: 1, schema: {$ref: 'file:///etc/passwd'}}",
    )
    assert any("$ref 'file:///etc/passwd' is not allowed" in m for m in messages(text))


def test_standard_labels_belong_to_helmforge() -> None:
    text = MINIMAL.replace(
        'metadata: {name: "${ctx.name}"}',
        'metadata: {name: "${ctx.name}", labels: {app.kubernetes.io/name: x}}',
    )
    assert any("label app.kubernetes.io/name is set by helmforge" in m for m in messages(text))


def test_placeholders_in_keys_are_rejected() -> None:
    text = MINIMAL.replace("app: x}}", '"${ctx.name}": x}}', 1)
    assert any("not in keys" in m for m in messages(text))


def test_kubernetes_version_must_be_quoted_minor() -> None:
    assert any("kubernetesVersion" in m for m in messages(MINIMAL.replace('"1.31"', '"1.31.2"')))


def test_yaml_errors_name_the_line() -> None:
    with pytest.raises(InputError) as caught:
        parse_template("apiVersion: [\n", source="t.yaml")
    assert caught.value.location is not None
    assert caught.value.location.source == "t.yaml"


def test_empty_and_wrong_kind() -> None:
    assert messages("")
    found = messages(
        textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        """)
    )
    assert any("apiVersion must be helmforge.dev/v1" in m for m in found)
    assert any("kind must be Template" in m for m in found)


def test_global_is_reserved_and_values_may_be_empty() -> None:
    text = MINIMAL.replace(
        "    replicas: {default: 1, description: Pods}",
        "    replicas: {default: 1, description: Pods}\n    global: {default: 1}",
    )
    assert any("'global' is reserved by Helm" in m for m in messages(text))
    no_values = MINIMAL.replace("    replicas: {default: 1, description: Pods}\n", "").replace(
        "replicas: ${values.replicas}", "replicas: 1"
    )
    assert not parse_template(
        no_values.replace("  values:\n", "  values: {}\n"), source="t"
    ).parameters
    assert not parse_template(no_values.replace("  values:\n", ""), source="t").parameters


BOMB = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 9)
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BOMB, "alias bomb"),
        ("apiVersion: helmforge.dev/v1\napiVersion: helmforge.dev/v1\n", "duplicate key"),
        ("[" * 5000 + "]" * 5000, "nesting"),
        ("a: !!python/object/apply:os.system ['true']\n", "not allowed"),
    ],
)
def test_hostile_yaml_is_rejected_by_the_codec(text: str, expected: str) -> None:
    """RELIABILITY rows 1-3 and 7 reach parse_template as InputError, never a crash."""
    with pytest.raises(InputError) as caught:
        parse_template(text, source="t.yaml")
    assert expected in str(caught.value)


def test_lone_surrogates_in_text_input_are_input_errors() -> None:
    with pytest.raises(InputError, match="lone surrogate"):
        parse_template('a: "\ud800"', source="t.yaml")
