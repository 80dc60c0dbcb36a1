"""services.chart_builds.defaults_for: the values form's starting point."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from helmforge.core.access.principals import SYSTEM
from helmforge.services import chart_builds, template_store
from tests.support.charts import CONTEXT, example_text


def test_unset_required_values_are_named_and_left_out_of_the_defaults(
    sessions: sessionmaker[Session],
) -> None:
    template_store.create_version(sessions, example_text(), actor=SYSTEM)
    template_store.publish_version(sessions, "web-service", "1.2.0", actor=SYSTEM)
    # No layer of the example sets ingress.host for sit; it has no default either.
    sit = {**CONTEXT, "environment": "sit"}
    shown, unset = chart_builds.defaults_for(
        sessions, template="web-service@1.2.0", context=sit, actor=SYSTEM
    )
    assert unset == [("ingress", "host")]
    assert "host" not in shown.values["ingress"]
    assert shown.values["ingress"]["className"] == "nginx"
    assert "ingress.host" in shown.provenance
    prod, none_unset = chart_builds.defaults_for(
        sessions, template="web-service@1.2.0", context={**CONTEXT, "environment": "prod"},
        actor=SYSTEM,
    )  # fmt: skip
    assert none_unset == []
    assert prod.values["ingress"]["host"].endswith(".example.com")
