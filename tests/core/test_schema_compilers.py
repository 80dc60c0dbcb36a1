from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.manifests.reading import read_manifests
from helmforge.core.schemas.compilers import CompiledSchemas
from helmforge.core.schemas.kubernetes import SchemaSet
from helmforge.core.schemas.openapi import crd_definitions
from helmforge.core.yaml_codec import YamlLimits, load_single

# Replacements of different JSON types for every leaf and container.
SUBSTITUTES: tuple[Any, ...] = ("text", 7, 1.5, True, None, [], {}, ["x"], {"unknownField": 1})


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))


def _replaced(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copied = copy.deepcopy(body)
    node: Any = copied
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return copied


def _agrees(schemas: SchemaSet, compiled: CompiledSchemas, body: dict[str, Any], name: str) -> None:
    fast = compiled.is_valid(name, body)
    assert fast is not None
    violations = _violations(schemas, name, body)
    assert fast == (violations == []), body


def _violations(schemas: SchemaSet, name: str, body: dict[str, Any]) -> list[Any]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(
        {"$ref": "#/$defs/" + name, "$defs": dict(schemas.definitions)}
    )
    return list(validator.iter_errors(body))


def test_compiled_checks_agree_with_jsonschema_on_every_mutation(shared_data: Path) -> None:
    schemas = load_schema_set("1.31")
    compiled = CompiledSchemas(schemas.definitions)
    demo = shared_data / "manifests/microservices-demo/kubernetes-manifests.yaml"
    objects = read_manifests(demo.read_bytes(), source="demo").objects
    for item in objects[:8]:
        name = schemas.definition_for(item.api_version, item.kind)
        assert name is not None
        _agrees(schemas, compiled, item.body, name)
        for number, path in enumerate(_paths(item.body)):
            if not path:
                continue
            substitute = SUBSTITUTES[number % len(SUBSTITUTES)]
            _agrees(schemas, compiled, _replaced(item.body, path, substitute), name)
        _agrees(schemas, compiled, {**item.body, "extra": 1}, name)


def test_crd_schemas_compile_and_agree(shared_data: Path) -> None:
    crd = load_single(
        (shared_data / "argocd/application-crd.yaml").read_bytes(),
        limits=YamlLimits(max_bytes=32 * 1024 * 1024),
    ).data
    definitions = crd_definitions(crd, source="crd")
    schemas = SchemaSet(kubernetes_version="1.31", definitions=definitions)
    compiled = CompiledSchemas(definitions)
    good = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "a"},
        "spec": {
            "project": "default",
            "destination": {"server": "https://x"},
            "source": {"repoURL": "https://git", "targetRevision": "main"},
        },
    }
    name = "io.argoproj.v1alpha1.Application"
    _agrees(schemas, compiled, good, name)
    for path in list(_paths(good))[1:]:
        for substitute in SUBSTITUTES:
            _agrees(schemas, compiled, _replaced(good, path, substitute), name)


def test_unsupported_keywords_fall_back_and_cycles_terminate() -> None:
    definitions = {
        "node": {
            "type": "object",
            "properties": {"child": {"$ref": "#/$defs/node"}, "n": {"type": "integer"}},
        },
        "odd": {"type": "object", "dependentRequired": {"a": ["b"]}},
        "backtracking": {"type": "string", "pattern": "^(a+)\\1$"},
        "redos": {"type": "string", "pattern": "^(a+)+$"},
    }
    compiled = CompiledSchemas(definitions)
    assert compiled.is_valid("node", {"child": {"child": {"n": 1.0}}}) is True
    assert compiled.is_valid("node", {"child": {"child": {"n": True}}}) is False
    assert compiled.is_valid("odd", {"a": 1}) is False
    assert compiled.is_valid("missing", {}) is None
    # Patterns run on the linear engine: one needing backtracking does not compile (the
    # caller falls back to jsonschema), and the ReDoS pattern answers at once.
    assert compiled.is_valid("backtracking", "aa") is None
    assert compiled.is_valid("redos", "a" * 10_000 + "!") is False
