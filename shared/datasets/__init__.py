"""Parsing and checking training data into the neutral :class:`~shared.domain.examples.Example` form, streaming."""

from shared.datasets.chat_format import LineRejected, example_from_json
from shared.datasets.limits import DatasetFileRejected, DatasetLimits
from shared.datasets.parse import file_kind, parse_upload
from shared.datasets.report import IngestReport, Rejection
from shared.datasets.text_syntax import SYNTAX_HELP, example_from_text

__all__ = [
    "SYNTAX_HELP",
    "DatasetFileRejected",
    "DatasetLimits",
    "IngestReport",
    "LineRejected",
    "Rejection",
    "example_from_json",
    "example_from_text",
    "file_kind",
    "parse_upload",
]
