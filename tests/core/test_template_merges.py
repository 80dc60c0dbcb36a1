from __future__ import annotations

from typing import Any

from helmforge.core.templates.merges import merge_templates


def _template(tag: str, replicas: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    resources = [
        {
            "id": "web-deployment",
            "manifest": {"kind": "Deployment", "spec": {"replicas": replicas}},
        },
        *([extra] if extra else []),
    ]
    return {
        "metadata": {"name": "web", "version": "0.1.0"},
        "spec": {"values": {"web": {"image": {"tag": {"default": tag}}}}, "resources": resources},
    }


def test_edits_are_kept_input_changes_are_taken_and_clashes_reported() -> None:
    base = _template("1.0", 1)
    current = _template("1.0", 3)  # the creator scaled up
    current["metadata"]["version"] = "0.2.0"
    current["spec"]["values"]["web"]["custom"] = {"default": "x"}
    generated = _template("1.1", 1)  # the input moved to a new tag
    result = merge_templates(base=base, current=current, generated=generated)
    assert result.document["spec"]["values"]["web"]["image"]["tag"]["default"] == "1.1"
    assert result.document["spec"]["values"]["web"]["custom"] == {"default": "x"}
    assert result.document["spec"]["resources"][0]["manifest"]["spec"]["replicas"] == 3
    assert result.document["metadata"]["version"] == "0.2.0"
    assert result.not_carried_over == []

    clash = merge_templates(base=base, current=current, generated=_template("1.1", 2))
    assert clash.document["spec"]["resources"][0]["manifest"]["spec"]["replicas"] == 3
    assert clash.not_carried_over == [
        "spec.resources[id=web-deployment].manifest.spec.replicas: changed in the input and "
        "by the creator; the creator's value kept"
    ]


def test_resources_added_removed_and_edited_after_removal() -> None:
    extra = {"id": "cache", "manifest": {"kind": "Service", "spec": {"port": 1}}}
    base = _template("1.0", 1, extra)
    edited_extra = {"id": "cache", "manifest": {"kind": "Service", "spec": {"port": 2}}}
    current = _template("1.0", 1, edited_extra)
    added = {"id": "mine", "manifest": {"kind": "ConfigMap"}}
    current["spec"]["resources"].append(added)
    generated = _template("1.0", 1)
    result = merge_templates(base=base, current=current, generated=generated)
    ids = [r["id"] for r in result.document["spec"]["resources"]]
    assert ids == ["web-deployment", "mine"]
    assert result.not_carried_over == [
        "spec.resources[id=cache]: no longer in the input; the edited value dropped"
    ]


def test_without_a_base_the_file_wins_and_new_things_are_added() -> None:
    current = _template("0.9", 4)
    generated = _template("1.0", 1, {"id": "new", "manifest": {"kind": "Service"}})
    result = merge_templates(base=None, current=current, generated=generated)
    assert result.document["spec"]["values"]["web"]["image"]["tag"]["default"] == "0.9"
    assert [r["id"] for r in result.document["spec"]["resources"]] == ["web-deployment", "new"]
