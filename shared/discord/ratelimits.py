"""Discord's rate limits as the REST client keeps them: buckets learned from the answers, every wait bounded.

Discord groups routes into *buckets* and names each one in the ``X-RateLimit-Bucket`` header. A bucket's count
is kept per *major parameter*: the channel, the guild, or the webhook id and token of the path. So
``POST /channels/1/messages`` and ``POST /channels/2/messages`` share a bucket name but not a count, while two
different routes that Discord puts in one bucket share the count for the same channel. discord.py
(``http.py``) and hikari (``impl/buckets.py``) key their state the same way, and so does this module:

- before Discord has answered a route, its state is keyed by the route's template (ids replaced by
  placeholders) and its major parameters;
- once an answer named the route's bucket, by that name and the major parameters.

A 429 holds its bucket (or, when global, every route) for its ``retry_after``. Every wait is bounded twice:
:data:`MAX_WAIT_SECONDS` caps what a single answer can ask for, and the caller's deadline (in Lambda, the
invocation's remaining time) turns a wait that would pass it into an error at once, so that the function
records its work and retries later instead of timing out while asleep.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# The longest single wait any answer can impose; a longer Retry-After is a misbehaving proxy, not Discord.
MAX_WAIT_SECONDS = 300.0
# Path segments whose next segment(s) are major parameters: one id, or (webhooks, interactions) id and token.
_MAJOR_ONE = frozenset(("channels", "guilds"))
_MAJOR_TWO = frozenset(("webhooks", "interactions"))
_ID = re.compile(r"^\d{1,20}$")


def route_of(path: str) -> tuple[str, str]:
    """``(template, major parameters)`` of a path: ``/channels/1/messages/2`` → ``(/channels/{}/messages/{id},
    "1")``. The query string never changes the route."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    template: list[str] = []
    major: list[str] = []
    i = 0
    while i < len(parts):
        segment = parts[i]
        template.append(segment)
        if segment in _MAJOR_ONE and i + 1 < len(parts):
            major.append(parts[i + 1])
            template.append("{}")
            i += 2
        elif segment in _MAJOR_TWO and i + 2 < len(parts):
            major.extend(parts[i + 1 : i + 3])
            template.extend(("{}", "{}"))
            i += 3
        else:
            if _ID.match(segment):
                template[-1] = "{id}"
            i += 1
    return "/" + "/".join(template), "/".join(major)


@dataclass
class _Bucket:
    remaining: int | None = None
    reset_at: float = 0.0


class WaitTooLong(Exception):
    """A wait would end after the caller's deadline."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"{delay:.1f}s")
        self.delay = delay


class RateLimits:
    """The client's view of Discord's buckets; thread-safe (the voice worker calls from several threads)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._hashes: dict[str, str] = {}  # "METHOD template" → Discord's bucket name
        self._buckets: dict[str, _Bucket] = {}
        self._global_until = 0.0

    def key(self, method: str, path: str) -> str:
        """The key of the bucket a request falls in, by what Discord has said so far."""
        template, major = route_of(path)
        route = f"{method} {template}"
        with self._lock:
            name = self._hashes.get(route)
        return f"{name or route}:{major}"

    def delay(self, key: str) -> float:
        """Seconds to wait before a request in ``key``'s bucket (0 when it may go now)."""
        now = self._clock()
        with self._lock:
            wait = self._global_until - now
            bucket = self._buckets.get(key)
            if bucket is not None and bucket.remaining == 0:
                wait = max(wait, bucket.reset_at - now)
        return max(0.0, wait)

    def waited(self, key: str) -> None:
        """The wait for ``key`` was served: the next answer's headers tell the bucket's new state. (A wait refused
        for the caller's deadline is not served, and the bucket stays held.)"""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is not None:
                bucket.remaining = None

    def note(self, method: str, path: str, headers: Mapping[str, str]) -> str:
        """Learn from an answer's headers; return the request's bucket key (it may have just been named)."""
        get = headers.get
        name = get("X-RateLimit-Bucket")
        template, major = route_of(path)
        route = f"{method} {template}"
        now = self._clock()
        with self._lock:
            if name:
                self._hashes[route] = name
            key = f"{self._hashes.get(route) or route}:{major}"
            remaining, reset_after = get("X-RateLimit-Remaining"), get("X-RateLimit-Reset-After")
            if remaining is None or reset_after is None:
                return key
            try:
                bucket = _Bucket(remaining=int(float(remaining)), reset_at=now + float(reset_after))
            except ValueError:
                return key
            # Interaction webhooks are counted per webhook id *and* token, so each interaction is a bucket of
            # its own: drop the ones whose window is over, or a warm process would keep one per token forever.
            for old in [k for k, b in self._buckets.items() if b.reset_at <= now]:
                del self._buckets[old]
            self._buckets[key] = bucket
        return key

    def hold(self, key: str, delay: float, *, is_global: bool) -> None:
        """A 429: nothing goes in ``key``'s bucket (or anywhere, when global) for ``delay`` seconds."""
        until = self._clock() + min(delay, MAX_WAIT_SECONDS)
        with self._lock:
            if is_global:
                self._global_until = max(self._global_until, until)
            else:
                self._buckets[key] = _Bucket(remaining=0, reset_at=until)
