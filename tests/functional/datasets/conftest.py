"""Fixtures of the data side: the stores on the template's table and bucket (moto), and a tiny CDN on 127.0.0.1."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.config import Settings
from shared.storage.datasets import DatasetStore
from shared.storage.files import FileStore
from tests.support.cdn import Cdn


@dataclass
class Stores:
    settings: Settings
    dynamodb: Any
    s3: Any
    datasets: DatasetStore = field(init=False)
    files: FileStore = field(init=False)

    def __post_init__(self) -> None:
        self.datasets = DatasetStore(self.settings, dynamodb_client=self.dynamodb)
        self.files = FileStore(self.settings, dynamodb_client=self.dynamodb, s3_client=self.s3)

    @property
    def bucket(self) -> str:
        return self.settings.bucket_name

    @property
    def table(self) -> str:
        return self.settings.data_table


@pytest.fixture
def cdn() -> Iterator[Cdn]:
    server = Cdn()
    yield server
    server.close()


@pytest.fixture
def stores(aws, settings: Settings, cdn: Cdn) -> Stores:
    """The dataset and file stores, with the tiny CDN's host allowed beside Discord's."""
    allowed = dataclasses.replace(settings, attachment_hosts=(*settings.attachment_hosts, f"127.0.0.1:{cdn.port}"))
    return Stores(allowed, aws.clients.dynamodb, aws.clients.s3)
