"""Fixtures for the data side: moto (S3, DynamoDB) in process, and a tiny CDN on 127.0.0.1."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import boto3
import pytest
from moto import mock_aws

from shared.config import Settings
from shared.storage.datasets import DatasetStore
from shared.storage.files import FileStore

TABLE = "bot-data"
BUCKET = "bot-bucket"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@dataclass
class Aws:
    settings: Settings
    dynamodb: object
    s3: object
    datasets: DatasetStore = field(init=False)
    files: FileStore = field(init=False)

    def __post_init__(self) -> None:
        self.datasets = DatasetStore(self.settings, dynamodb_client=self.dynamodb)
        self.files = FileStore(self.settings, dynamodb_client=self.dynamodb, s3_client=self.s3)


def create_resources(dynamodb: object, s3: object) -> None:
    dynamodb.create_table(  # type: ignore[attr-defined]
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    s3.create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]


@pytest.fixture
def settings(cdn: Cdn) -> Settings:
    return Settings(
        attachment_hosts=("cdn.discordapp.com", "media.discordapp.net", "127.0.0.1"),
        data_table=TABLE,
        bucket_name=BUCKET,
        aws_region="us-east-1",
    )


@pytest.fixture
def aws(aws_env: None, settings: Settings) -> Iterator[Aws]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        create_resources(dynamodb, s3)
        yield Aws(settings, dynamodb, s3)


Route = Callable[[http.server.BaseHTTPRequestHandler], None]


class Cdn:
    """Routes by path; each route writes the whole response itself (status, headers, body)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[str] = []
        cdn = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                cdn.hits.append(path)
                route = cdn.routes.get(path)
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                try:
                    route(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on purpose (cap reached)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def file(
        self, path: str, body: bytes, *, content_length: int | None = None, chunked: bool = False
    ) -> str:
        def route(h: http.server.BaseHTTPRequestHandler) -> None:
            h.send_response(200)
            h.send_header("Content-Type", "application/octet-stream")
            if chunked:
                h.send_header("Transfer-Encoding", "chunked")
                h.end_headers()
                for start in range(0, len(body), 65536):
                    part = body[start : start + 65536]
                    h.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                h.wfile.write(b"0\r\n\r\n")
                return
            h.send_header("Content-Length", str(len(body) if content_length is None else content_length))
            h.end_headers()
            h.wfile.write(body)

        self.routes[path] = route
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        def route(h: http.server.BaseHTTPRequestHandler) -> None:
            h.send_response(status)
            h.send_header("Location", location)
            h.send_header("Content-Length", "0")
            h.end_headers()

        self.routes[path] = route
        return self.url(path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cdn() -> Iterator[Cdn]:
    server = Cdn()
    yield server
    server.close()
