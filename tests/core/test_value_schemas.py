"""values.schema.json derivation from the bound Kubernetes fields and declared constraints."""

from __future__ import annotations

import jsonschema

from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.templates.parsing import parse_template
from helmforge.core.templates.value_schemas import DRAFT_07, parameter_schemas, values_schema
from tests.core.test_templates import MINIMAL
from tests.support.charts import EXAMPLE

SCHEMAS = load_schema_set("1.31")
TEMPLATE = parse_template(EXAMPLE.read_bytes(), source="web-service.yaml")


def test_document_is_draft_07_and_closed() -> None:
    schema = values_schema(TEMPLATE, schemas=SCHEMAS)
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["$schema"] == DRAFT_07
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["ingress"]
    image = schema["properties"]["image"]
    assert image["additionalProperties"] is False
    assert sorted(image["properties"]) == ["pullPolicy", "repository", "tag"]
    assert schema["properties"]["ingress"]["required"] == ["host"]


def test_types_formats_and_ranges_come_from_the_fields() -> None:
    by_path = parameter_schemas(TEMPLATE, schemas=SCHEMAS)
    replicas = by_path["replicaCount"]
    assert replicas["type"] == "integer"
    assert (replicas["minimum"], replicas["maximum"]) == (-(2**31), 2**31 - 1)
    assert replicas["description"] == "Pods to run when autoscaling is off"
    assert by_path["image.tag"]["type"] == "string"
    assert by_path["ingress.host"]["format"] == "hostname"
    assert by_path["service.type"]["enum"] == ["ClusterIP", "NodePort", "LoadBalancer"]
    assert by_path["service.port"]["maximum"] == 65535
    assert by_path["service.port"]["minimum"] == 1
    assert by_path["greeting"]["type"] == "string"
    assert by_path["env"]["type"] == "array"
    assert by_path["env"]["items"] == {"$ref": "#/definitions/io.k8s.api.core.v1.EnvVar"}
    resources = by_path["resources"]
    assert resources["type"] == "object"
    assert {"limits", "requests"} <= set(resources["properties"])
    assert resources["additionalProperties"] is False
    pdb = by_path["podDisruptionBudget.minAvailable"]
    assert {option["type"] for option in pdb["oneOf"]} == {"string", "integer"}


def test_interpolated_parameters_are_strings_unless_bound_whole() -> None:
    text = MINIMAL.replace(
        "image: nginx}]",
        'image: "nginx:${values.replicas}", ports: [{containerPort: 80}]}]',
    )
    template = parse_template(text, source="t.yaml")
    assert parameter_schemas(template, schemas=SCHEMAS)["replicas"]["type"] == "integer"


def test_unknown_kind_takes_the_type_of_the_default() -> None:
    text = MINIMAL.replace("apiVersion: apps/v1\n", "apiVersion: example.com/v1\n")
    template = parse_template(text.replace("kind: Deployment", "kind: Widget"), source="t.yaml")
    assert parameter_schemas(template, schemas=SCHEMAS)["replicas"]["type"] == "integer"


def test_schema_is_cached_per_template_and_schema_set() -> None:
    assert values_schema(TEMPLATE, schemas=SCHEMAS) is values_schema(TEMPLATE, schemas=SCHEMAS)
    other = load_schema_set("1.30")
    assert values_schema(TEMPLATE, schemas=other) is not values_schema(TEMPLATE, schemas=SCHEMAS)


def test_self_referencing_definitions_terminate() -> None:
    """RELIABILITY row 10: JSONSchemaProps refers to itself; conversion still ends."""
    text = """\
apiVersion: helmforge.dev/v1
kind: Template
metadata: {name: crd, version: 0.1.0}
spec:
  kubernetesVersion: "1.31"
  values:
    openAPI: {default: {type: object}}
  resources:
    - id: crd
      manifest:
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: widgets.example.com}
        spec:
          group: example.com
          names: {kind: Widget, plural: widgets}
          scope: Namespaced
          versions:
            - name: v1
              served: true
              storage: true
              schema: {openAPIV3Schema: "${values.openAPI}"}
"""
    template = parse_template(text, source="crd.yaml")
    schema = values_schema(template, schemas=SCHEMAS)
    name = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"
    assert name in schema["definitions"]
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    assert not list(validator.iter_errors({"openAPI": {"type": "object", "properties": {}}}))
    assert list(validator.iter_errors({"openAPI": {"type": "object", "propertiez": {}}}))
