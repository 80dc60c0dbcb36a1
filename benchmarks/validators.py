"""helmforge's JSON Schema checks (on jsonschema-rs) side by side with jsonschema.

All runs are in this one process, taking turns, on the same inputs:
- ``values``: each example template's derived values.schema.json (draft-07) against its
  values for a context, as ``render_chart`` checks them (validator built once, then reused):
  ``core/schemas/validation.Validator.errors`` (jsonschema-rs, formats asserted, linear-time
  regex, helmforge's messages), raw ``jsonschema_rs.Draft7Validator.iter_errors``, and
  ``jsonschema.Draft7Validator.iter_errors``; valid values, and values with three mistakes.
- ``values build``: building a validator for one parameter's schema and checking one value,
  as template validation does for every default and layer value.
- ``import``: Kubernetes objects of a catalog import (Deployments as in benchmarks/imports,
  a Service, a ConfigMap) against their 2020-12 definitions: ``core/schemas/compilers
  .CompiledSchemas.is_valid``, raw ``jsonschema_rs.Draft202012Validator.is_valid`` and
  ``jsonschema.Draft202012Validator.is_valid``.
Figures are microseconds per check (best of ROUNDS); ratios are against helmforge's.

The same benchmark run against the hand-written validators these replaced (commit ff2ba1a,
columns hand-written / jsonschema-rs / jsonschema, microseconds):
  values, valid: config-edge-cases 47.5 / 0.5 / 72.2, node-agent 123.3 / 0.8 / 370.6,
    stateful-store 68.3 / 1.0 / 195.6, web-service 132.1 / 1.1 / 574.3;
  values, 3 errors: 58.7 / 17.4 / 146.1, 76.2 / 18.1 / 216.9, 79.6 / 15.7 / 217.5,
    189.6 / 19.9 / 612.5;
  values build, one parameter: 7.4 / 4.3 / 21.3, 2.1 / 6.3 / 6.7, 2.6 / 96.7 / 8.3,
    2.8 / 33.3 / 9.8;
  import, valid: Deployment 105.6 / 2.5 / 2446.7, Service 7.4 / 0.6 / 387.1,
    ConfigMap 3.4 / 0.4 / 75.6.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs

from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.contexts import parse_context
from helmforge.core.schemas.compilers import CompiledSchemas
from helmforge.core.schemas.validation import Validator
from helmforge.core.templates.layering import effective_values
from helmforge.core.templates.parsing import parse_template
from helmforge.core.templates.value_schemas import parameter_schemas, values_schema
from helmforge.core.yaml_codec import load_documents

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "templates"
ROUNDS = 5
_OVERRIDES: dict[str, dict[str, Any]] = {
    "stateful-store.yaml": {"password": "s3cret"},
    "config-edge-cases.yaml": {"code": "XYZ"},
}


def _best(check: Callable[[], object], repeat: int) -> float:
    """Microseconds per call, best of ROUNDS batches of ``repeat`` calls."""
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(repeat):
            check()
        best = min(best, time.perf_counter() - start)
    return best / repeat * 1e6


def _broken(values: dict[str, Any]) -> dict[str, Any]:
    """Three mistakes: an unknown key, a wrong type, a wrong nested type (where it exists)."""
    out = {**values, "replicaCuont": 2}
    for key, value in values.items():
        if isinstance(value, int) and not isinstance(value, bool):
            out[key] = "three"
            break
    for key, value in values.items():
        if isinstance(value, dict) and value:
            inner = next(iter(value))
            out[key] = {**value, inner: [1]}
            break
    return out


def _values_rows() -> list[tuple[str, float, float, float]]:
    context = parse_context(
        {
            "product": "ledger",
            "customer": "acme",
            "environment": "prod",
            "instance": "a1",
            "version": "3.4.0",
        }
    )
    rows = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        template = parse_template(path.read_bytes(), source=path.name)
        schemas = load_schema_set(template.kubernetes_version)
        schema = values_schema(template, schemas=schemas)
        values, _ = effective_values(template, context, overrides=_OVERRIDES.get(path.name, {}))
        own = Validator(schema)
        rust = jsonschema_rs.Draft7Validator(
            schema, validate_formats=True, pattern_options=jsonschema_rs.RegexOptions()
        )
        reference = jsonschema.Draft7Validator(
            schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
        )
        for label, instance, repeat in (
            ("valid", values, 2000),
            ("3 errors", _broken(values), 500),
        ):
            assert bool(own.errors(instance)) == (not reference.is_valid(instance)), path.name
            rows.append(
                (
                    f"values {path.stem} ({label})",
                    _best(lambda i=instance, v=own: v.errors(i), repeat),
                    _best(lambda i=instance, v=rust: [e.message for e in v.iter_errors(i)], repeat),
                    _best(
                        lambda i=instance, v=reference: [e.message for e in v.iter_errors(i)],
                        repeat // 10,
                    ),
                )
            )
        types = parameter_schemas(template, schemas=schemas)
        definitions = schema.get("definitions", {})
        dotted, parameter = next((d, p) for d, p in template.parameters.items() if p.has_default)
        one = {**types[dotted], "definitions": definitions}
        default = parameter.default
        rows.append(
            (
                f"values build {path.stem} (one parameter)",
                _best(lambda s=one, d=default: Validator(s).errors(d), 500),
                _best(
                    lambda s=one, d=default: list(
                        jsonschema_rs.Draft7Validator(
                            s, validate_formats=True, pattern_options=jsonschema_rs.RegexOptions()
                        ).iter_errors(d)
                    ),
                    500,
                ),
                _best(
                    lambda s=one, d=default: list(jsonschema.Draft7Validator(s).iter_errors(d)), 50
                ),
            )
        )
    return rows


def _objects() -> list[dict[str, Any]]:
    from benchmarks.imports import _deployment

    text = "".join(_deployment(index) for index in range(20))
    text += """---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {LOG_LEVEL: info, FEATURE_X: "on"}
"""
    return [document.data for document in load_documents(text, source="objects.yaml")]


def _import_rows() -> list[tuple[str, float, float, float]]:
    schemas = load_schema_set("1.31")
    compiled = CompiledSchemas(schemas.definitions)
    rows = []
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for body in _objects():
        by_kind.setdefault(body["kind"], []).append(body)
    for kind, bodies in by_kind.items():
        name = schemas.definition_for(bodies[0]["apiVersion"], kind)
        assert name is not None
        rust = jsonschema_rs.Draft202012Validator(
            {"$ref": f"#/$defs/{name}", "$defs": dict(schemas.definitions)},
            pattern_options=jsonschema_rs.RegexOptions(),
        )
        reference = jsonschema.Draft202012Validator(
            {"$ref": f"#/$defs/{name}", "$defs": schemas.definitions}
        )
        assert all(compiled.is_valid(name, body) is True for body in bodies), kind
        assert all(rust.is_valid(body) for body in bodies), kind
        count = len(bodies)
        rows.append(
            (
                f"import {kind} (valid)",
                _best(lambda b=bodies, n=name: [compiled.is_valid(n, x) for x in b], 200 // count)
                / count,
                _best(lambda b=bodies, v=rust: [v.is_valid(x) for x in b], 200 // count) / count,
                _best(lambda b=bodies, v=reference: [v.is_valid(x) for x in b], max(1, 20 // count))
                / count,
            )
        )
    return rows


def run() -> dict[str, float | str]:
    """Measure helmforge's checks beside raw jsonschema-rs and jsonschema; print a table."""
    rows = _values_rows() + _import_rows()
    width = max(len(row[0]) for row in rows)
    print(f"validators benchmark (microseconds per check, best of {ROUNDS})")
    print(
        f"  {'check':<{width}}  {'helmforge':>9}  {'raw rs':>8}  {'jsonschema':>10}  rs/hf  py/hf"
    )
    figures: dict[str, float | str] = {}
    for name, own, rust, python in rows:
        print(
            f"  {name:<{width}}  {own:9.1f}  {rust:8.1f}  {python:10.1f}"
            f"  {rust / own:5.2f}  {python / own:5.1f}"
        )
        figures[f"{name} raw-rs/helmforge"] = round(rust / own, 3)
        figures[f"{name} jsonschema/helmforge"] = round(python / own, 3)
    return figures


if __name__ == "__main__":
    run()
