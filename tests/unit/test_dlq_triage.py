"""The DLQ processor's decisions: retry with 2^n s backoff while a retry can help, else manual review."""

from __future__ import annotations

from argus_dev.samples import demo_stream

from argus_streams.contract import dead_letters
from argus_streams.contract.events import ArgusEvent
from argus_streams.dlq import triage

EVENT = demo_stream()[0]


def letter(error: BaseException, retry_count: int = 0, retryable: bool = True, partition: int | None = 2,
           value: bytes | None = None) -> ArgusEvent:
    offset = 7 if partition is not None else None
    record = dead_letters.SourceRecord(topic="argus.test.failed", partition=partition, offset=offset, key="suite-1",
                                       value=EVENT.to_json().encode() if value is None else value,
                                       headers={"tenant_id": "acme", dead_letters.RETRY_COUNT_HEADER: str(retry_count)})
    return dead_letters.dead_letter(record, error, "test", retryable=retryable)


def test_backoff_doubles_from_two_seconds() -> None:
    assert [triage.backoff_ms(n) for n in (1, 2, 3)] == [2000, 4000, 8000]


def test_a_retryable_error_is_republished_with_the_original_record_and_its_retry_count() -> None:
    decision = triage.triage(letter(TimeoutError("graph write timed out")))
    assert isinstance(decision, triage.Retry)
    assert decision.delay_ms == 2000 and decision.topic == "argus.test.failed" and decision.key == "suite-1"
    assert decision.value == EVENT.to_json()
    assert decision.headers == {"tenant_id": "acme", dead_letters.RETRY_COUNT_HEADER: "1"}


def test_the_third_failure_goes_to_review() -> None:
    assert isinstance(triage.triage(letter(TimeoutError(), retry_count=1)), triage.Retry)  # 2nd failure: retried
    third = triage.triage(letter(TimeoutError(), retry_count=2))
    assert third == "failed 3 times (max_retries=3)"


def test_data_errors_go_to_review_at_once() -> None:
    assert "data error" in str(triage.triage(letter(ValueError("bad"), retryable=False)))
    # A dead letter from elsewhere (no `retryable`): judged by its error type.
    foreign = letter(KeyError("x"))
    foreign.metadata.pop("retryable")
    assert "data error (KeyError)" in str(triage.triage(foreign))
    unknown = letter(ConnectionResetError("peer"))
    unknown.metadata.pop("retryable")
    assert isinstance(triage.triage(unknown), triage.Retry)


def test_what_cannot_be_republished_as_it_was_goes_to_review() -> None:
    assert triage.triage(letter(TimeoutError(), partition=None)) == "no original record to republish"
    assert triage.triage(letter(TimeoutError(), value=b"\xff\xfe")) == "no original record to republish"


def test_position_less_dead_letters_get_distinct_ids_by_content() -> None:
    a = letter(ValueError(), partition=None, value=b'{"row": 1}')
    b = letter(ValueError(), partition=None, value=b'{"row": 2}')
    assert a.event_id != b.event_id
    assert a.event_id == letter(ValueError(), partition=None, value=b'{"row": 1}').event_id


def test_input_nested_deeper_than_the_interpreter_is_a_validation_error_and_still_dead_letters() -> None:
    import pytest

    from argus_streams.errors import EventValidationError

    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    with pytest.raises(EventValidationError, match="nested too deeply"):
        ArgusEvent.from_json(deep)
    record = dead_letters.SourceRecord(topic="argus.test.failed", partition=0, offset=1, key=None, value=deep)
    assert dead_letters.dead_letter(record, ValueError("x"), "test").payload["original_value"] == deep.decode()


def test_dlq_list_and_show_never_send_a_letters_control_characters_to_the_terminal() -> None:
    from argus_streams.cli.dlq import format_row, format_rows
    from argus_streams.dlq.review import row_from_dead_letter

    hostile = "\x1b[2J\x1b]0;pwned\x07fake\rline\u202eevil"
    record = dead_letters.SourceRecord(topic="argus.test.failed", partition=1, offset=5, key=hostile,
                                       value=hostile.encode(), headers={"tenant_id": "acme", "source": hostile})
    row = row_from_dead_letter(dead_letters.dead_letter(record, ValueError(hostile), "argus-flink-failures").to_bytes())
    for text in (format_rows([row]), format_row(row)):
        assert not any(ch in text for ch in "\x1b\x07\r\u202e"), repr(text)
        assert "\\x1b[2J" in text
    shown = format_row(row)
    assert "\\x1b[2J\\x1b]0;pwned\\x07fake\\rline\\u202eevil" in shown  # the key, escaped, nothing dropped
