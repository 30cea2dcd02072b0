"""The fake Discord's CDN and control API, as tests, benchmarks and the local stack use them."""

from __future__ import annotations

import base64
import hashlib

import requests

from infra.fakes.discord_server import CHUNK, generated_chunks, generated_sha256


def test_cdn_serves_bytes_and_ignores_the_signed_query(fake_discord):
    url = fake_discord.add_cdn_file(
        "111/222/examples.jsonl", b'{"messages": []}\n', content_type="application/jsonl"
    )
    response = requests.get(url + "?ex=abc&is=def&hm=123", timeout=5)
    assert response.status_code == 200
    assert response.content == b'{"messages": []}\n'
    assert response.headers["Content-Type"] == "application/jsonl"
    assert fake_discord.cdn_host in url


def test_cdn_streams_a_generated_file_of_the_given_size(fake_discord):
    size = 5 * CHUNK + 123
    url = fake_discord.add_cdn_file("big.bin", size=size, seed="s1")
    digest = hashlib.sha256()
    received = 0
    with requests.get(url, stream=True, timeout=5) as response:
        assert int(response.headers["Content-Length"]) == size
        for piece in response.iter_content(16 * 1024):
            digest.update(piece)
            received += len(piece)
    assert received == size
    assert digest.hexdigest() == generated_sha256(size, "s1")
    assert sum(len(p) for p in generated_chunks(size, "s1")) == size


def test_cdn_without_content_length_uses_chunked_transfer(fake_discord):
    url = fake_discord.add_cdn_file("nolength.bin", size=CHUNK * 2 + 7, send_length=False)
    response = requests.get(url, timeout=5)
    assert "Content-Length" not in response.headers
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert len(response.content) == CHUNK * 2 + 7


def test_cdn_redirect_and_unknown_path(fake_discord):
    target = fake_discord.add_cdn_file("real.txt", b"real")
    url = fake_discord.add_cdn_file("moved.txt", redirect_to="/attachments/real.txt")
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert response.status_code == 302 and response.headers["Location"] == target
    assert requests.get(url, timeout=5).content == b"real"
    assert requests.get(fake_discord.url + "/attachments/nope", timeout=5).status_code == 404


def test_control_api_registers_files_and_faults(fake_discord):
    base = fake_discord.url + "/_fake"
    spec = {"path": "a/b.csv", "data_b64": base64.b64encode(b"x,y").decode()}
    answer = requests.post(base + "/cdn", json=spec, timeout=5).json()
    assert requests.get(answer["url"], timeout=5).content == b"x,y"

    fault = {"status": 503, "times": 1, "path_contains": "/channels/"}
    requests.post(base + "/faults", json=fault, timeout=5)
    url = fake_discord.api_base + "/channels/5/messages"
    headers = {"Authorization": f"Bot {fake_discord.bot_token}"}
    assert requests.post(url, json={"content": "a"}, headers=headers, timeout=5).status_code == 503
    assert requests.post(url, json={"content": "b"}, headers=headers, timeout=5).status_code == 200
    listed = requests.get(base + "/messages", params={"channel_id": "5"}, timeout=5).json()
    assert [m["content"] for m in listed["messages"]] == ["b"]

    requests.post(base + "/reset", timeout=5)
    assert fake_discord.channel_messages("5") == []


def test_an_edit_keeps_the_attachments_it_lists_and_a_followup_without_wait_has_no_body(fake_discord):
    edit = f"{fake_discord.api_base}/webhooks/{fake_discord.application_id}/tok-abc/messages/@original"
    first = requests.patch(edit, files=[("payload_json", (None, '{"content": "one", "flags": 64}')),
                                        ("files[0]", ("a.txt", b"a"))], timeout=5).json()
    (kept,) = first["attachments"]
    requests.patch(edit, json={"content": "two", "attachments": [{"id": kept["id"]}]}, timeout=5)
    (message,) = fake_discord.messages("tok-abc")
    assert message["content"] == "two" and message["flags"] == 64
    assert [a["id"] for a in message["attachments"]] == [kept["id"]]
    assert [e["content"] for e in fake_discord.edits("tok-abc")] == ["one", "two"]
    followup = f"{fake_discord.api_base}/webhooks/{fake_discord.application_id}/tok-abc"
    answer = requests.post(followup, json={"content": "later"}, timeout=5)
    assert answer.status_code == 204 and answer.content == b""
    assert [m["content"] for m in fake_discord.messages("tok-abc")] == ["two", "later"]


def test_invalid_json_body_is_a_400_like_discord(fake_discord):
    url = f"{fake_discord.api_base}/webhooks/{fake_discord.application_id}/t/messages/@original"
    response = requests.patch(url, data=b"{not json", headers={"Content-Type": "application/json"}, timeout=5)
    assert response.status_code == 400 and response.json()["code"] == 50035


def test_content_over_2000_characters_is_refused_like_discord(fake_discord):
    url = f"{fake_discord.api_base}/webhooks/{fake_discord.application_id}/t/messages/@original"
    response = requests.patch(url, json={"content": "x" * 2001}, timeout=5)
    assert response.status_code == 400 and response.json()["code"] == 50035
    assert requests.patch(url, json={"content": "x" * 2000}, timeout=5).status_code == 200
