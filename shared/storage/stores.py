"""The one wiring object of a process: every store, built on first use from one set of boto3 clients.

The interactions app, the worker, the watcher and the voice worker each hold one :class:`Stores`; nothing else
constructs a store. Building is lazy, so answering PING touches none of it, and stores that import boto3-heavy
modules are imported only when first used.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from shared.aws import AwsClients
from shared.config import Settings

if TYPE_CHECKING:
    from shared.storage.datasets import DatasetStore
    from shared.storage.exchanges import ExchangeStore
    from shared.storage.feedback import FeedbackStore
    from shared.storage.files import FileStore
    from shared.storage.finetune_jobs import FineTuneJobStore
    from shared.storage.instructions import InstructionStore
    from shared.storage.reviews import ReviewStore
    from shared.storage.table import DataTable
    from shared.storage.voice_presence import VoicePresence


class Stores:
    def __init__(self, settings: Settings, aws: AwsClients | None = None) -> None:
        self.settings = settings
        # DynamoDB and SQS through botocore alone: a cold interaction that stores a record or queues a task does not
        # import boto3 and s3transfer (S3, for instructions, file links and transfers, still comes from boto3).
        self.aws = aws or AwsClients(settings, botocore_services=frozenset({"dynamodb", "sqs"}))

    @cached_property
    def table(self) -> DataTable:
        from shared.storage.table import DataTable

        return DataTable(self.settings.data_table, self.aws.dynamodb)

    @cached_property
    def feedback(self) -> FeedbackStore:
        from shared.storage.feedback import FeedbackStore

        return FeedbackStore(self.table)

    @cached_property
    def reviews(self) -> ReviewStore:
        from shared.storage.reviews import ReviewStore

        return ReviewStore(self.table)

    @cached_property
    def exchanges(self) -> ExchangeStore:
        from shared.storage.exchanges import ExchangeStore

        return ExchangeStore(self.table)

    @cached_property
    def instructions(self) -> InstructionStore:
        from shared.storage.instructions import InstructionStore

        return InstructionStore(self.settings.bucket_name, self.aws.s3)

    @cached_property
    def datasets(self) -> DatasetStore:
        from shared.storage.datasets import DatasetStore

        return DatasetStore(self.settings, dynamodb_client=self.aws.dynamodb)

    @cached_property
    def files(self) -> FileStore:
        from shared.storage.files import FileStore

        return FileStore(self.settings, dynamodb_client=self.aws.dynamodb, s3_client=self.aws.s3)

    @cached_property
    def finetune_jobs(self) -> FineTuneJobStore:
        from shared.storage.finetune_jobs import FineTuneJobStore

        return FineTuneJobStore(self.settings.data_table, self.aws.dynamodb)

    @cached_property
    def voice_presence(self) -> VoicePresence:
        from shared.storage.voice_presence import VoicePresence

        return VoicePresence(self.table)
