"""Every fault type as a real client sees it, and that faults stay inside the API namespace."""

from __future__ import annotations

import time

import pytest
import requests
from sandbox_helpers import Api

from smooch_desktop.sandbox import DEMO_ALICE_ID, DEMO_APP_ID, FaultConfig, SandboxServer

BODY = {"role": "appMaker", "type": "text", "text": "fault test"}


def count(api: Api) -> int:
    return len(api.srv.store.messages(DEMO_APP_ID, DEMO_ALICE_ID))


def test_latency_is_added(api: Api) -> None:
    api.srv.set_faults(FaultConfig(latency_ms=300))
    started = time.monotonic()
    resp = api.post_message(DEMO_ALICE_ID, BODY)
    elapsed = time.monotonic() - started
    assert resp.status_code == 201
    assert elapsed >= 0.29
    api.srv.set_faults(FaultConfig())
    started = time.monotonic()
    api.post_message(DEMO_ALICE_ID, BODY)
    assert time.monotonic() - started < 0.29


def test_error_rate_answers_500_and_503_envelopes(api: Api) -> None:
    api.srv.set_faults(FaultConfig(error_rate=1.0, seed=7, retry_after=3))
    before = count(api)
    seen: dict[int, set[str | None]] = {}
    for _ in range(20):
        resp = api.post_message(DEMO_ALICE_ID, BODY)
        error = resp.json()["error"]
        expected = {500: "internal_error", 503: "service_unavailable"}[resp.status_code]
        assert error["code"] == expected and error["description"]
        seen.setdefault(resp.status_code, set()).add(resp.headers.get("Retry-After"))
    assert set(seen) == {500, 503}
    assert seen[503] == {"3"}  # Retry-After only on 503 (and 429)
    assert seen[500] == {None}
    assert count(api) == before  # nothing was processed


@pytest.mark.parametrize(("retry_after", "header"), [(None, None), (2.0, "2"), (0.2, "1")])
def test_rate_limit_with_and_without_retry_after(
    api: Api, retry_after: float | None, header: str | None
) -> None:
    api.srv.set_faults(FaultConfig(rate_limit_rate=1.0, retry_after=retry_after))
    resp = api.post_message(DEMO_ALICE_ID, BODY)
    assert resp.status_code == 429
    assert resp.json()["error"]["code"] == "too_many_requests"
    assert resp.headers.get("Retry-After") == header


def test_drop_before_loses_the_request(api: Api) -> None:
    api.srv.set_faults(FaultConfig(drop_before_rate=1.0))
    before = count(api)
    with pytest.raises(requests.ConnectionError):
        api.post_message(DEMO_ALICE_ID, BODY)
    assert count(api) == before
    assert api.srv.log()[-1]["fault"] == "drop_before"
    assert api.srv.log()[-1]["status"] is None


def test_drop_after_processes_then_closes(api: Api) -> None:
    api.srv.set_faults(FaultConfig(drop_after_rate=1.0))
    before = count(api)
    with pytest.raises(requests.ConnectionError):
        api.post_message(DEMO_ALICE_ID, {**BODY, "text": "delivered but unanswered"})
    messages = api.srv.store.messages(DEMO_APP_ID, DEMO_ALICE_ID)
    assert len(messages) == before + 1
    assert messages[-1]["text"] == "delivered but unanswered"
    entry = api.srv.log()[-1]
    assert (entry["fault"], entry["status"]) == ("drop_after", 201)


def test_hang_times_out_and_stop_is_quick() -> None:
    srv = SandboxServer(faults=FaultConfig(hang_rate=1.0)).start()
    try:
        with requests.Session() as s, pytest.raises(requests.ReadTimeout):
            s.get(
                f"{srv.base_url}/v1.1/apps/{srv.app_id}/appusers/{DEMO_ALICE_ID}",
                auth=(srv.key_id, srv.secret),
                timeout=0.3,
            )
        assert srv.log()[-1]["fault"] == "hang"
    finally:
        started = time.monotonic()
        srv.stop()
        assert time.monotonic() - started < 2.0


def test_seeded_faults_are_reproducible() -> None:
    config = FaultConfig(error_rate=0.3, rate_limit_rate=0.3, seed=42)
    runs = []
    for _ in range(2):
        with SandboxServer(faults=config) as srv, requests.Session() as s:
            url = f"{srv.base_url}/v1.1/apps/{srv.app_id}/appusers/{DEMO_ALICE_ID}"
            runs.append(
                [
                    s.get(url, auth=(srv.key_id, srv.secret), timeout=10).status_code
                    for _ in range(20)
                ]
            )
    assert runs[0] == runs[1]
    assert {200, 429} <= set(runs[0]) and set(runs[0]) & {500, 503}


def test_faults_never_touch_the_sandbox_namespace_or_pages(api: Api) -> None:
    api.srv.set_faults(FaultConfig(error_rate=1.0))
    base = api.srv.base_url
    for path in ("/_sandbox/log", "/_sandbox/faults", "/", f"/avatar/{'0' * 32}.png"):
        assert api.session.get(base + path, timeout=10).status_code == 200, path
    assert api.session.get(base + "/_sandbox/faults", timeout=10).json()["error_rate"] == 1.0


def test_faults_can_be_switched_over_http(api: Api) -> None:
    url = f"{api.srv.base_url}/_sandbox/faults"
    resp = api.session.put(url, json={"rate_limit_rate": 1.0, "retry_after": 5}, timeout=10)
    assert resp.status_code == 200
    assert resp.json()["rate_limit_rate"] == 1.0
    assert api.srv.faults == FaultConfig(rate_limit_rate=1.0, retry_after=5)
    assert api.post_message(DEMO_ALICE_ID, BODY).status_code == 429
    for bad in ({"error_rate": 2}, {"nonsense": 1}, {"latency_ms": "slow"}):
        assert api.session.put(url, json=bad, timeout=10).status_code == 400
    api.session.put(url, json={"rate_limit_rate": 0, "retry_after": None}, timeout=10)
    assert api.post_message(DEMO_ALICE_ID, BODY).status_code == 201


def test_fault_config_validates() -> None:
    with pytest.raises(ValueError):
        FaultConfig(error_rate=1.5)
    with pytest.raises(ValueError):
        FaultConfig(latency_ms=-1)
    with pytest.raises(ValueError):
        FaultConfig(retry_after=-2)
    assert FaultConfig.from_dict({"seed": 3}).seed == 3


def test_faulted_upload_still_gets_its_answer(api: Api) -> None:
    api.srv.set_faults(FaultConfig(rate_limit_rate=1.0))
    resp = api.request(
        "POST",
        f"{api.srv.base_url}/v1.1/apps/{DEMO_APP_ID}/attachments?access=public",
        files={"source": ("big.bin", b"\1" * (5 * 1024 * 1024))},
    )
    assert resp.status_code == 429
    summary = api.srv.log()[-1]
    assert (summary["fault"], summary["body"]) == ("rate_limit", None)


def test_error_after_store_stores_then_answers_like_a_proxy(api: Api) -> None:
    api.srv.set_faults(FaultConfig(error_after_store_rate=1.0, seed=3, retry_after=2))
    before = count(api)
    seen_status: set[int] = set()
    seen_types: set[str] = set()
    seen_retry_after: set[str | None] = set()
    for i in range(40):
        resp = api.post_message(DEMO_ALICE_ID, {**BODY, "text": f"stored anyway {i}"})
        assert resp.status_code in (502, 503, 504)
        seen_status.add(resp.status_code)
        seen_types.add(resp.headers["Content-Type"].split(";")[0])
        seen_retry_after.add(resp.headers.get("Retry-After"))
        assert '"error":' not in resp.text  # not the API's envelope: a proxy's page
        entry = api.srv.log()[-1]
        assert (entry["fault"], entry["status"]) == ("error_after_store", 201)
    assert count(api) == before + 40  # every one was processed
    assert seen_status == {502, 503, 504}
    assert seen_types == {"text/html", "text/plain", "application/json"}
    assert seen_retry_after == {None, "2"}
    api.srv.set_faults(FaultConfig())
    assert api.post_message(DEMO_ALICE_ID, BODY).status_code == 201


def test_error_after_store_is_a_flag_and_over_http(api: Api) -> None:
    from smooch_desktop.sandbox.__main__ import build_parser

    args = build_parser().parse_args(["--error-after-store-rate", "0.25"])
    assert args.error_after_store_rate == 0.25
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--error-after-store-rate", "2"])
    url = f"{api.srv.base_url}/_sandbox/faults"
    resp = api.session.put(url, json={"error_after_store_rate": 1.0}, timeout=10)
    assert resp.status_code == 200 and resp.json()["error_after_store_rate"] == 1.0
    before = count(api)
    assert api.post_message(DEMO_ALICE_ID, BODY).status_code in (502, 503, 504)
    assert count(api) == before + 1
