"""Flow batches: aggregated on arrival, written atomically, counted once, bad lines reported."""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pytest_django import Settings

from tests.webapp.flows.kernel_log import KERNEL_LOG, kernel_log_line
from tests.webapp.inventory.personas import AgentClient
from webapp.flows import services
from webapp.flows.models import FlowBatch, FlowRecord
from webapp.inventory.models import Host

pytestmark = pytest.mark.django_db

FLOWS = "/api/ingest/flows/"


def flow_body(text: str = KERNEL_LOG, source: str = "auto") -> dict[str, Any]:
    return {"host": "node-01", "source": source, "filename": "/var/log/kern.log", "text": text}


def test_node_01_sends_a_batch_that_is_aggregated_on_arrival(agent: AgentClient,
                                                             node_01: Host) -> None:
    response = agent.send(FLOWS, flow_body())

    assert response.status_code == 202
    assert response.json() == {
        "accepted": 5, "written": 3,
        "bad_lines": [{"line": 6, "reason": "not an IP address: '10.1.0.300'"}],
        "bad_line_count": 1, "source_format": "kernel_log", "status": "created"}
    drops = FlowRecord.objects.filter(verdict="DROP").order_by("bucket_start")
    first = drops[0]
    assert (first.host, first.src, first.dst, first.proto, first.dport) == (
        node_01, "10.1.0.5", "10.1.0.9", 6, 5432)
    assert (first.records, first.packets, first.bytes) == (3, 3, 180)
    assert (first.bucket_start, first.bucket_end) == (
        datetime(2026, 11, 26, 3, 0, tzinfo=UTC), datetime(2026, 11, 26, 3, 1, tzinfo=UTC))
    assert (first.rule_ref, first.observer, first.source_format) == (
        "seg-DROP:", "node-01", "kernel_log")
    assert drops[1].records == 1
    assert FlowRecord.objects.get(verdict="ACCEPT").dport == 22


def test_a_named_source_is_read_without_detection(agent: AgentClient, node_01: Host) -> None:
    response = agent.send(FLOWS, flow_body(source="kernel_log"))

    assert (response.json()["accepted"], response.json()["written"]) == (5, 3)


def test_a_batch_sent_again_is_counted_once(agent: AgentClient, node_01: Host) -> None:
    agent.send(FLOWS, flow_body())

    again = agent.send(FLOWS, flow_body())

    assert again.status_code == 202
    assert again.json()["status"] == "seen-again"
    assert again.json()["written"] == 3
    assert FlowRecord.objects.count() == 3
    assert FlowBatch.objects.count() == 1


def test_a_batch_in_no_known_format_is_422(agent: AgentClient, node_01: Host) -> None:
    response = agent.send(FLOWS, flow_body("hello\nworld\n"))

    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["file"], error["line"], error["column"]) == ("/var/log/kern.log", 1, 1)
    assert "not a flow log" in error["reason"]
    assert not FlowRecord.objects.exists()


def test_more_lines_than_the_limit_is_413(agent: AgentClient, node_01: Host,
                                          settings: Settings) -> None:
    settings.SEGSCOPE_MAX_FLOW_BATCH = 6

    response = agent.send(FLOWS, flow_body())

    assert response.status_code == 413
    assert response.json()["error"]["limit"] == "SEGSCOPE_MAX_FLOW_BATCH"
    assert not FlowBatch.objects.exists()


def test_an_unknown_source_is_a_400(agent: AgentClient, node_01: Host) -> None:
    response = agent.send(FLOWS, flow_body(source="netflow"))

    assert response.status_code == 400


@pytest.mark.django_db(transaction=True)
def test_a_batch_is_atomic(agent: AgentClient, node_01: Host,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    record_rows = services._record_rows
    sent: list[tuple[Any, ...]] = []

    def rows_then_failure(*args: Any) -> Iterator[tuple[Any, ...]]:
        for row in record_rows(*args):
            sent.append(row)
            yield row
        if sent:
            raise RuntimeError("connection lost")

    monkeypatch.setattr(services, "_record_rows", rows_then_failure)
    agent.raise_request_exception = False

    response = agent.send(FLOWS, flow_body())

    assert response.status_code == 500
    assert len(sent) == 3
    assert not FlowRecord.objects.exists()
    assert not FlowBatch.objects.exists()


def _ten_minutes_of_drops() -> list[str]:
    """Two dropped SYNs a minute from 03:00 to 03:09, in time order."""
    return [kernel_log_line(f"{minute:02}:{second:02}.000000", "DROP", "10.1.0.5", "10.1.0.9",
                            40000 + minute * 2 + i, 5432)
            for minute in range(10) for i, second in enumerate((10, 40))]


def test_settled_minutes_are_written_while_the_rest_is_parsed(
        agent: AgentClient, node_01: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "CHUNK_ROWS", 4)
    record_rows = services._record_rows
    written_per_step: list[int] = []

    def counted(*args: Any) -> Iterator[tuple[Any, ...]]:
        rows = list(record_rows(*args))
        written_per_step.append(len(rows))
        return iter(rows)

    monkeypatch.setattr(services, "_record_rows", counted)

    response = agent.send(FLOWS, flow_body("\n".join(_ten_minutes_of_drops()) + "\n"))

    assert (response.json()["accepted"], response.json()["written"]) == (20, 10)
    assert sum(written_per_step[:-1]) > 0  # before the last line was parsed
    assert sorted(FlowRecord.objects.values_list("records", flat=True)) == [2] * 10


@pytest.mark.django_db(transaction=True)
def test_a_failure_after_settled_minutes_were_written_leaves_nothing(
        agent: AgentClient, node_01: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "CHUNK_ROWS", 4)
    record_rows = services._record_rows
    calls: list[int] = []

    def rows_then_failure(*args: Any) -> Iterator[tuple[Any, ...]]:
        rows = list(record_rows(*args))
        calls.append(len(rows))
        if sum(calls) >= 4:  # some minutes already in the COPY, the batch not yet read
            raise RuntimeError("connection lost")
        return iter(rows)

    monkeypatch.setattr(services, "_record_rows", rows_then_failure)
    agent.raise_request_exception = False

    response = agent.send(FLOWS, flow_body("\n".join(_ten_minutes_of_drops()) + "\n"))

    assert response.status_code == 500
    assert 4 <= sum(calls) < 10
    assert not FlowRecord.objects.exists()
    assert not FlowBatch.objects.exists()


def test_a_record_older_than_the_settled_minutes_is_summed_apart_not_lost(
        agent: AgentClient, node_01: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "CHUNK_ROWS", 4)
    late = kernel_log_line("00:50.000000", "DROP", "10.1.0.5", "10.1.0.9", 40100, 5432)

    response = agent.send(FLOWS, flow_body("\n".join([*_ten_minutes_of_drops(), late]) + "\n"))

    assert (response.json()["accepted"], response.json()["written"]) == (21, 11)
    first_minute = FlowRecord.objects.filter(bucket_start=datetime(2026, 11, 26, 3, 0,
                                                                   tzinfo=UTC))
    assert sorted(first_minute.values_list("records", flat=True)) == [1, 2]


def test_a_batch_larger_than_django_s_form_limit_is_taken_up_to_the_upload_limit(
        agent: AgentClient, node_01: Host, settings: Settings) -> None:
    lines = _ten_minutes_of_drops()
    text = "\n".join(lines * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE // len("".join(lines)) + 1))
    assert len(text) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    response = agent.send(FLOWS, flow_body(text + "\n"))

    assert response.status_code == 202
    assert response.json()["accepted"] == text.count("\n") + 1
