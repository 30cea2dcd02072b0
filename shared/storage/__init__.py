"""DynamoDB and S3 storage of the bot's records.

One DynamoDB table (``DATA_TABLE``) holds every record, keyed by ``pk``/``sk`` strings from :mod:`.keys`, with a
generic secondary index ``gsi1`` (``gsi1pk``/``gsi1sk``) for the few look-ups by something other than the guild,
and ``expires_at`` as the TTL attribute. Idempotency records live in their own table (``IDEMPOTENCY_TABLE``,
Powertools' schema: partition key ``id``, TTL ``expiration``). Files live in one bucket under
``guilds/{guild_id}/...`` keys that only the server generates.
"""
