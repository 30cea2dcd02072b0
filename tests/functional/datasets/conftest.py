"""Fixtures of the data side: the stores on the template's table and bucket (moto), and a tiny CDN on 127.0.0.1."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from shared.config import Settings
from shared.storage.datasets import DatasetStore
from shared.storage.files import FileStore
from shared.storage.stores import Stores
from tests.support.cdn import Cdn


@dataclass
class Storage:
    """The data side's stores and the raw clients and names beneath them, for checking what they wrote."""

    settings: Settings
    stores: Stores
    dynamodb: Any
    s3: Any

    @property
    def datasets(self) -> DatasetStore:
        return self.stores.datasets

    @property
    def files(self) -> FileStore:
        return self.stores.files

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
def storage(aws, settings: Settings, cdn: Cdn) -> Storage:
    """The dataset and file stores on the template's table and bucket; the tiny CDN's host is allowed."""
    allowed = dataclasses.replace(settings, attachment_hosts=(*settings.attachment_hosts, f"127.0.0.1:{cdn.port}"))
    return Storage(allowed, Stores(allowed, aws=aws.clients), aws.clients.dynamodb, aws.clients.s3)
