"""The Flask app in-process: transport checks, the signature matrix, dispatch by interaction type."""

import json
import time

import pytest

from infra import interactions as build
from infra.signing import InteractionSigner
from tests.conftest import APPLICATION_ID

A = {"application_id": APPLICATION_ID}


def signed_kinds():
    message = build.bot_message(application_id=APPLICATION_ID, content="An answer")
    return {
        "ping": build.ping(**A),
        "command": build.slash("hi", **A),
        "component": build.component("vote:up", message=message, **A),
        "autocomplete": build.autocomplete("hi", focused="x", value="", **A),
        "modal": build.modal_submit("correct:123456789012345678", values={"correction": "x"}, **A),
        "message-command": build.message_command("Correct this answer", target=message, **A),
    }


@pytest.mark.parametrize("kind", list(signed_kinds()))
def test_valid_signatures_are_accepted(app_client, kind):
    response = app_client.post(signed_kinds()[kind])
    assert response.status_code == 200
    assert response.get_json()["type"] in (1, 4, 8, 9)


def _post_raw(app_client, body: bytes, headers: dict) -> int:
    return app_client.flask_client.post("/interactions", data=body, headers=headers).status_code


@pytest.mark.parametrize("kind", list(signed_kinds()))
@pytest.mark.parametrize(
    "tamper",
    ["wrong-key", "altered-body", "altered-signature", "stale", "no-signature", "no-timestamp", "no-headers"],
)
def test_signature_matrix_rejects_with_401_and_no_detail(app_client, signer, kind, tamper):
    body = json.dumps(signed_kinds()[kind]).encode()
    headers = signer.headers(body)
    if tamper == "wrong-key":
        headers = InteractionSigner.generate().headers(body)
    elif tamper == "altered-body":
        body = body.replace(b'"type"', b'"type" ', 1)
    elif tamper == "altered-signature":
        sig = headers["X-Signature-Ed25519"]
        headers["X-Signature-Ed25519"] = sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]
    elif tamper == "stale":
        headers = signer.headers(body, timestamp=int(time.time()) - 301)
    elif tamper == "no-signature":
        del headers["X-Signature-Ed25519"]
    elif tamper == "no-timestamp":
        del headers["X-Signature-Timestamp"]
    else:
        headers = {"Content-Type": "application/json"}
    response = app_client.flask_client.post("/interactions", data=body, headers=headers)
    assert response.status_code == 401
    assert response.data == b""


def test_ping_gets_pong(app_client):
    assert app_client.send(build.ping(**A)) == {"type": 1}


def test_body_over_one_mebibyte_is_413(app_client, signer):
    body = b'{"type":1,"pad":"' + b"x" * (1024 * 1024) + b'"}'
    assert _post_raw(app_client, body, signer.headers(body)) == 413


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1,2]", b'{"type":99}', b'{"type":"1"}', b'{"type":2}', b'{"type":2,"id":"1",'
     b'"application_id":"2","token":"t","data":{}}', b"\xff\xfe", b'{"type":3,"id":"1","application_id":"2",'
     b'"token":"t","data":{"custom_id":5}}'],
)
def test_signed_but_not_an_interaction_is_400(app_client, signer, body):
    assert _post_raw(app_client, body, signer.headers(body)) == 400


def test_signed_body_nested_too_deeply_is_400(app_client, signer):
    body = b'{"type":2,"data":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    assert _post_raw(app_client, body, signer.headers(body)) == 400


def test_unsigned_timestamp_of_thousands_of_digits_is_401(app_client, signer):
    body = b'{"type":1}'
    headers = {**signer.headers(body), "X-Signature-Timestamp": "1" * 5000}
    assert _post_raw(app_client, body, headers) == 401


def test_only_post_on_interactions(app_client):
    wrong_method = app_client.flask_client.get("/interactions")
    unknown = app_client.flask_client.post("/other")
    assert (wrong_method.status_code, wrong_method.get_json()) == (405, {"error": "method not allowed"})
    assert (unknown.status_code, unknown.get_json()) == (404, {"error": "not found"})


def test_too_large_is_a_short_json_error(app_client):
    response = app_client.flask_client.post("/interactions", data=b"x" * (1024 * 1024 + 1))
    assert (response.status_code, response.get_json()) == (413, {"error": "body too large"})


def test_hi(app_client):
    reply = app_client.send(build.slash("hi", **A))
    assert reply["type"] == 4
    assert reply["data"]["content"] == "HI!"
    assert reply["data"]["allowed_mentions"] == {"parse": []}


def test_unknown_command_gets_ephemeral_reply(app_client):
    reply = app_client.send(build.slash("nope", **A))
    assert reply["type"] == 4
    assert reply["data"]["flags"] == 64
    assert "don't know" in reply["data"]["content"]


def test_unknown_component_and_modal_get_ephemeral_reply(app_client):
    message = build.bot_message(application_id=APPLICATION_ID, content="x")
    for interaction in (build.component("zzz:1", message=message, **A),
                        build.modal_submit("zzz", values={"a": "b"}, **A)):
        reply = app_client.send(interaction)
        assert reply["data"]["flags"] == 64


def test_autocomplete_of_command_without_completer_is_empty(app_client):
    reply = app_client.send(build.autocomplete("hi", focused="x", value="a", **A))
    assert reply == {"type": 8, "data": {"choices": []}}


def test_handler_crash_is_an_ephemeral_apology_not_a_500(app_client, monkeypatch, caplog):
    def boom(*_args):
        raise RuntimeError("kaboom")

    monkeypatch.setattr("shared.storage.instructions.InstructionStore.get", boom)
    interaction = build.slash("instruction", **A)
    reply = app_client.send(interaction)
    assert reply["data"]["flags"] == 64
    assert "went wrong" in reply["data"]["content"]
    assert interaction["token"] not in caplog.text
    assert "kaboom" in caplog.text
