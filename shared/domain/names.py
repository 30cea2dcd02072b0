"""Names users type for datasets and stored files: validated here, before they come near a key or a path.

Free of boto3 and requests so that the interactions function checks names at once, on its cold path too.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

from shared.errors import InvalidInput

NAME_RULE = (
    "Dataset names are 1-32 characters: lowercase letters, digits, - and _ (for example `support-faq`)."
)
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
FILE_ID_RULE = "File names are the ids `/getfile` suggests (for example `archive-mydata-v3`), not paths."
_FILE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class InvalidName(InvalidInput):
    user_message = NAME_RULE


def validate_dataset_name(raw: str) -> str:
    """Return the canonical (lowercase) name, or raise :class:`InvalidName` with a message to act on."""
    if not isinstance(raw, str):
        raise InvalidName()
    name = unicodedata.normalize("NFKC", raw).strip().lower()
    if not name:
        raise InvalidName("Give the dataset a name. " + NAME_RULE)
    decoded = unquote(name)
    if (
        "/" in decoded
        or "\\" in decoded
        or ".." in decoded
        or decoded.startswith("~")
        or "%" in name
        or ":" in decoded
    ):
        raise InvalidName("Dataset names are plain names, not paths or URLs. " + NAME_RULE)
    if not _NAME.fullmatch(name):
        raise InvalidName(NAME_RULE)
    return name


def is_name_prefix(prefix: str, *, file_id: bool = False) -> bool:
    """Whether some dataset name (or, with ``file_id``, some file id) can start with the normalized ``prefix``.

    Autocomplete asks the table only for a prefix that can match; the empty prefix matches everything.
    """
    return not prefix or (_FILE_ID if file_id else _NAME).fullmatch(prefix) is not None


def validate_file_id(raw: str) -> str:
    file_id = (raw or "").strip().lower()
    if not _FILE_ID.fullmatch(file_id):
        raise InvalidInput(FILE_ID_RULE)
    return file_id
