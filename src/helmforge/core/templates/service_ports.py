"""References to a bootstrapped Service's port follow its port parameter.

``template init`` makes every Service port a parameter (``values.<service>.service.port``).
What calls that Service by port number must use the same parameter, or an override of it
leaves the callers on the old port: the webhook configurations and APIServices (their
``service.port``, 443 when absent) and Ingress backends (``backend.service.port.number``).
Only references into the release namespace (the Service's) are followed; a CRD's conversion
webhook is in ``crds/``, which Helm does not template, and keeps its number.
"""

from __future__ import annotations

__all__ = ["follow_service_ports"]

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from helmforge.core.templates.namespace_references import RELEASE_NAMESPACE


def _callers(manifest: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """(``{name, namespace, port}`` mapping, where) of the Services a webhook configuration or
    APIService calls."""
    kind = manifest.get("kind")
    if kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        webhooks = manifest.get("webhooks")
        for index, webhook in enumerate(webhooks if isinstance(webhooks, list) else []):
            config = webhook.get("clientConfig") if isinstance(webhook, dict) else None
            service = config.get("service") if isinstance(config, dict) else None
            if isinstance(service, dict):
                yield service, f"webhooks[{index}].clientConfig.service.port"
    elif kind == "APIService":
        spec = manifest.get("spec")
        service = spec.get("service") if isinstance(spec, dict) else None
        if isinstance(service, dict):
            yield service, "spec.service.port"


def _backends(manifest: Mapping[str, Any]) -> Iterator[tuple[Any, str]]:
    """(``backend.service`` mapping, where) of an Ingress's default backend and paths."""
    spec = manifest.get("spec")
    if manifest.get("kind") != "Ingress" or not isinstance(spec, dict):
        return
    default = spec.get("defaultBackend")
    if isinstance(default, dict):
        yield default.get("service"), "spec.defaultBackend.service.port.number"
    rules = spec.get("rules")
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        http = rule.get("http") if isinstance(rule, dict) else None
        paths = http.get("paths") if isinstance(http, dict) else None
        for position, path in enumerate(paths if isinstance(paths, list) else []):
            backend = path.get("backend") if isinstance(path, dict) else None
            if isinstance(backend, dict):
                where = f"spec.rules[{index}].http.paths[{position}].backend.service.port.number"
                yield backend.get("service"), where


def follow_service_ports(
    manifests: Sequence[dict[str, Any]], ports: Mapping[str, Mapping[int, str]]
) -> list[str]:
    """Point port numbers of ``manifests`` (edited in place) that call an imported Service at
    its port parameter; ``ports`` is Service name -> port number -> ``${values...}``. The
    notes for the creator."""
    notes: list[str] = []
    for manifest in manifests:
        owner = f"{manifest.get('kind')}/{(manifest.get('metadata') or {}).get('name')}"
        for service, where in _callers(manifest):
            if service.get("namespace") != RELEASE_NAMESPACE:
                continue
            placeholder = _parameter(ports, service.get("name"), service.get("port", 443))
            if placeholder is not None:
                service["port"] = placeholder
                notes.append(f"{owner}: {where} follows Service/{service['name']}'s port")
        for service, where in _backends(manifest):
            number = service.get("port") if isinstance(service, dict) else None
            if isinstance(number, dict):
                placeholder = _parameter(ports, service.get("name"), number.get("number"))
                if placeholder is not None:
                    number["number"] = placeholder
                    notes.append(f"{owner}: {where} follows Service/{service['name']}'s port")
    return notes


def _parameter(ports: Mapping[str, Mapping[int, str]], name: Any, number: Any) -> str | None:
    if not isinstance(name, str) or not isinstance(number, int):
        return None
    return ports.get(name, {}).get(number)
