"""The app's own Table Storage transactions, pure: the body of one changeset as the service documents it (verbs,
addresses with quoted keys, JSON with minimal metadata), values left to the SDK, the answer's status lines, and
the Shared Key signature (checked against the worked form: VERB, no MD5, content type, x-ms-date, /account/path)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from azure.data.tables import UpdateMode

from shared.adapters.table_batch import (
    BatchFailed,
    Unsupported,
    check_answer,
    encode,
    entity_json,
    shared_key_signature,
)

BASE = "http://127.0.0.1:10002/devstoreaccount1"
MERGE = {"mode": UpdateMode.MERGE}
REPLACE = {"mode": UpdateMode.REPLACE}


def _parts(body: bytes) -> list[str]:
    text = body.decode()
    changeset = text.split("boundary=", 1)[1].split("\r\n", 1)[0]
    assert text.startswith("--batch_1\r\nContent-Type: multipart/mixed; boundary=changeset_1\r\n\r\n")
    assert text.endswith(f"--{changeset}--\r\n--batch_1--\r\n")
    return text.split(f"--{changeset}\r\n")[1:]


def test_upserts_and_deletes_are_merge_put_and_delete_addressed_by_quoted_keys() -> None:
    body = encode(
        BASE,
        "dirusers",
        [
            ("upsert", {"PartitionKey": "c1", "RowKey": "o'neil é", "n": 3, "ok": True, "none": None}, MERGE),
            ("upsert", {"PartitionKey": "c1", "RowKey": "r2", "f": 0.5}, REPLACE),
            ("delete", {"PartitionKey": "c1", "RowKey": "r3"}),
        ],
        "batch_1",
    )
    merge, put, delete = _parts(body)
    assert f"MERGE {BASE}/dirusers(PartitionKey='c1',RowKey='o%27%27neil%20%C3%A9') HTTP/1.1" in merge
    payload = merge.rsplit("\r\n\r\n", 1)[1].rstrip("\r\n")
    assert json.loads(payload) == {"PartitionKey": "c1", "RowKey": "o'neil é", "n": 3, "ok": True}
    assert f"Content-Length: {len(payload.encode())}\r\n" in merge
    assert put.startswith("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nPUT ")
    assert json.loads(put.rsplit("\r\n\r\n", 1)[1]) == {
        "PartitionKey": "c1",
        "RowKey": "r2",
        "f": 0.5,
        "f@odata.type": "Edm.Double",
    }
    assert "DELETE " in delete and "If-Match: *\r\n" in delete and "Content-Type: application/json" not in delete


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1, float("nan"), float("inf"), b"x", ("1", "Edm.Int64"), object()])
def test_values_outside_the_encoders_types_are_left_to_the_sdk(value: object) -> None:
    with pytest.raises(Unsupported):
        entity_json({"PartitionKey": "p", "RowKey": "r", "v": value})


def test_a_datetime_is_left_to_the_sdk() -> None:
    from datetime import UTC, datetime

    with pytest.raises(Unsupported):
        encode(BASE, "t", [("upsert", {"PartitionKey": "p", "RowKey": "r", "at": datetime.now(UTC)}, MERGE)], "batch_1")


def test_an_answer_is_accepted_only_when_every_operation_succeeded() -> None:
    ok = b"--batchresponse_x\r\n...HTTP/1.1 204 No Content\r\n...HTTP/1.1 204 No Content\r\n--batchresponse_x--"
    check_answer(202, ok)
    refused = (
        b"--batchresponse_x\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 404 Not Found\r\n"
        b"Content-Type: application/json\r\n\r\n"
        b'{"odata.error":{"code":"ResourceNotFound","message":{"value":"0:gone"}}}'
    )
    with pytest.raises(BatchFailed) as failed:
        check_answer(202, refused)
    assert (failed.value.status, failed.value.code) == (404, "ResourceNotFound")
    with pytest.raises(BatchFailed) as whole:
        check_answer(413, b'{"odata.error":{"code":"RequestBodyTooLarge"}}')
    assert (whole.value.status, whole.value.code) == (413, "RequestBodyTooLarge")
    with pytest.raises(BatchFailed) as bare:
        check_answer(500, b"")
    assert (bare.value.status, bare.value.code) == (500, None)


def test_the_shared_key_signs_verb_content_type_date_and_the_accounts_path() -> None:
    key = base64.b64encode(b"k" * 32).decode()
    date = "Tue, 01 Dec 2026 15:00:00 GMT"
    got = shared_key_signature(
        "acct", key, "POST", "https://acct.table.core.windows.net/$batch", "multipart/mixed; boundary=b", date
    )
    text = f"POST\n\nmultipart/mixed; boundary=b\n{date}\n/acct/$batch"
    expected = base64.b64encode(hmac.new(b"k" * 32, text.encode(), hashlib.sha256).digest()).decode()
    assert got == f"SharedKey acct:{expected}"


def test_read_answers_become_plain_values_and_other_types_are_left_to_the_sdk() -> None:
    from shared.adapters.table_batch import entity_values

    body = {
        "odata.etag": 'W/"x"',
        "RowKey": "r",
        "s": "text",
        "b": True,
        "n": 7,
        "f": "2.5",
        "f@odata.type": "Edm.Double",
    }
    assert entity_values(body) == {"RowKey": "r", "s": "text", "b": True, "n": 7, "f": 2.5}
    for kind, value in (("Edm.DateTime", "2026-12-01T15:00:00Z"), ("Edm.Int64", "1099511627776")):
        with pytest.raises(Unsupported):
            entity_values({"v": value, "v@odata.type": kind})


def test_filter_parameters_become_odata_literals() -> None:
    from shared.adapters.table_batch import filter_with

    text = filter_with("PartitionKey eq @pk and b eq @b and n lt @n and x eq @other", {"pk": "o'r", "b": False, "n": 3})
    assert text == "PartitionKey eq 'o''r' and b eq false and n lt 3 and x eq @other"
    with pytest.raises(Unsupported):
        filter_with("n eq @n", {"n": 2**40})
