"""Every task the worker runs, one function per :class:`~shared.contracts.messages.TaskKind`.

An explicit table, like the commands' ``DECLARATIONS``: a kind without a function here is caught by the tests,
not at run time by whatever happened to be imported.
"""

from __future__ import annotations

from collections.abc import Mapping

from functions.worker import dataset_tasks, model_tasks, training_tasks
from functions.worker.outcome import AfterDelivery, TaskFunction
from shared.contracts.messages import TaskKind

TASKS: Mapping[TaskKind, TaskFunction] = {
    TaskKind.TRAIN: training_tasks.train,
    TaskKind.ARCHIVE: training_tasks.archive,
    TaskKind.GETFILE: training_tasks.getfile,
    TaskKind.START_FINETUNE: model_tasks.start_finetune,
    TaskKind.CANCEL_FINETUNE: model_tasks.cancel_finetune,
    TaskKind.ASK: model_tasks.ask,
    TaskKind.TEST: model_tasks.test_model,
    TaskKind.DATASET_RENAME: dataset_tasks.rename,
    TaskKind.DATASET_DELETE: dataset_tasks.delete,
    TaskKind.ACTIVATE_MODEL: model_tasks.activate_model,
    TaskKind.RETRY_STAGE2: model_tasks.retry_stage2,
}

# Steps a TaskOutcome names in ``after_delivery``, run once its reply is delivered (even by a later receive).
AFTER_DELIVERY: Mapping[str, AfterDelivery] = {
    "start_finetune": training_tasks.start_finetune_after,
    "record_exchange": model_tasks.record_exchange,
}
