"""What command handlers use, built lazily so that PING touches none of it."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from shared.aws import AwsClients
from shared.config import Settings
from shared.storage.exchanges import ExchangeStore
from shared.storage.feedback import FeedbackStore
from shared.storage.instructions import InstructionStore
from shared.storage.table import DataTable

if TYPE_CHECKING:
    from shared.storage.datasets import DatasetStore
    from shared.storage.files import FileStore


class Services:
    def __init__(self, settings: Settings, *, aws: AwsClients | None = None) -> None:
        self.settings = settings
        # DynamoDB and SQS through botocore alone: a cold command that stores a record or queues a task does not
        # import boto3 and s3transfer (S3, for instructions and file links, still comes from boto3).
        self.aws = aws or AwsClients(settings, botocore_services=frozenset({"dynamodb", "sqs"}))

    @cached_property
    def table(self) -> DataTable:
        return DataTable(self.settings.data_table, self.aws.dynamodb)

    @cached_property
    def feedback(self) -> FeedbackStore:
        return FeedbackStore(self.table)

    @cached_property
    def exchanges(self) -> ExchangeStore:
        return ExchangeStore(self.table)

    @cached_property
    def instructions(self) -> InstructionStore:
        return InstructionStore(self.settings.bucket_name, self.aws.s3)

    @cached_property
    def datasets(self) -> DatasetStore:
        # Imported here: boto3 is not needed to answer PING, and stays off the cold path.
        from shared.storage.datasets import DatasetStore

        return DatasetStore(self.settings, dynamodb_client=self.aws.dynamodb)

    @cached_property
    def files(self) -> FileStore:
        from shared.storage.files import FileStore

        return FileStore(self.settings, dynamodb_client=self.aws.dynamodb, s3_client=self.aws.s3)
