"""Probes, and routes that need no registry, answer while registry calls hang."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.api.conftest import TestClient, make_app
from tests.support.peers import SilentPeer

THREADS = 2


def test_a_hanging_registry_starves_neither_the_probes_nor_other_routes(
    database_url: str, tmp_path: Path
) -> None:
    # The deadline only ends the test if the probes do queue behind the hung requests.
    app, _ = make_app(database_url, tmp_path / "data", threads=THREADS, registry_deadline=60.0)
    from helmforge.core.access.principals import SYSTEM
    from helmforge.server.app import state_of
    from helmforge.services import accounts

    token = accounts.create_token(state_of(app).sessions, user="admin", actor=SYSTEM).token
    silent = SilentPeer()
    finished: list[int] = []
    lock = threading.Lock()
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        created = client.post(
            "/api/v1/registries",
            json={"name": "hung", "url": f"oci://{silent.authority}/charts", "plain_http": True},
        )
        assert created.status_code == 201, created.text

        def list_versions() -> None:
            response = client.get("/api/v1/registries/hung/charts/demo/versions")
            with lock:
                finished.append(response.status_code)

        callers = [threading.Thread(target=list_versions) for _ in range(THREADS)]
        try:
            for caller in callers:
                caller.start()
            silent.wait_for_connections(THREADS)  # every request thread waits on the registry

            health = client.get("/healthz")
            ready = client.get("/readyz")
            scraped = client.get("/metrics")
            templates = client.get("/api/v1/templates")
            with lock:
                answered_while_hung = list(finished)
        finally:
            silent.release()  # answers 404: the listings end at once with no versions
            for caller in callers:
                caller.join()
            silent.close()
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert scraped.status_code == 200
    assert "helmforge_http_requests_total" in scraped.text
    assert templates.status_code == 200  # registry calls hold threads of their own
    assert answered_while_hung == []
    assert finished == [200] * THREADS
