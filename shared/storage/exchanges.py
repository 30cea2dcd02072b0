"""Exchanges: the bot's answers (prompt, answer, model), keyed by the id of the message that carried them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from shared.storage import keys
from shared.storage.table import DataTable


@dataclass(frozen=True)
class Exchange:
    guild_id: str
    message_id: str
    channel_id: str
    user_id: str
    prompt: str
    answer: str
    model: str
    created_at: str = ""


class ExchangeStore:
    def __init__(self, table: DataTable) -> None:
        self._table = table

    def add(self, exchange: Exchange) -> bool:
        item = {"pk": keys.guild_pk(exchange.guild_id), "sk": keys.exchange_sk(exchange.message_id)}
        return self._table.put_new({**item, "type": "exchange", **asdict(exchange)})

    def get(self, guild_id: str, message_id: str) -> Exchange | None:
        item = self._table.get(keys.guild_pk(guild_id), keys.exchange_sk(message_id))
        if item is None:
            return None
        return Exchange(**{k: str(item.get(k, "")) for k in Exchange.__dataclass_fields__})
