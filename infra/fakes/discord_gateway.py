"""A local Discord gateway and voice server, on loopback, for the voice worker and its tests.

What a discord.py bot needs to join a voice channel and speak, and no more:

- the main gateway (plain ``ws://``): HELLO, heartbeats, IDENTIFY (token and privileged intents checked),
  READY, GUILD_CREATE with a voice channel, its members and their voice states, and the voice requests
  (opcode 4) answered with VOICE_STATE_UPDATE and VOICE_SERVER_UPDATE;
- the voice websocket over TLS (discord.py always dials ``wss://``; the certificate is made at start, see
  ``ca_file``): IDENTIFY, HELLO, READY, UDP IP discovery, SELECT_PROTOCOL, SESSION_DESCRIPTION
  (``aead_xchacha20_poly1305_rtpsize``), SPEAKING, and DAVE (on unless ``dave=False``): the server is the MLS
  external sender, and a member of the channel (``listener_id``) runs a davey session, commits the bot's
  key package and welcomes it, then opens the bot's end-to-end encrypted frames as that member would;
- what the bot says, decrypted and Opus-decoded, kept per utterance (see ``voice_capture``).

Controls (thread-safe): ``move_member`` (a member joins, moves or leaves), ``close_voice`` (close the voice
socket with a code, as Discord does), ``wait_for`` (block until a condition on the recorded state holds).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from infra.fakes.dave import ExternalSender
from infra.fakes.tls import LoopbackCertificate, make_loopback_certificate
from infra.fakes.voice_capture import OPUS_SILENCE, PacketOpener, Utterance
from infra.interactions import DEFAULT_CHANNEL, DEFAULT_GUILD, DEFAULT_USER

log = logging.getLogger(__name__)

VOICE_CHANNEL = "300000000000000010"
OTHER_VOICE_CHANNEL = "300000000000000011"
OTHER_USER = "400000000000000002"
TRANSPORT_MODES = ("aead_xchacha20_poly1305_rtpsize",)
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # guild members, presences, message content
# connect, speak, view channel, send messages, use voice activity
EVERYONE_PERMISSIONS = (1 << 20) | (1 << 21) | (1 << 10) | (1 << 11) | (1 << 25)
UTTERANCE_DRAIN_SECONDS = 0.2  # trailing packets still in flight when SPEAKING off arrives

# Main gateway opcodes
DISPATCH, HEARTBEAT, IDENTIFY, VOICE_STATE, HELLO, HEARTBEAT_ACK = 0, 1, 2, 4, 10, 11
# Voice gateway opcodes
V_IDENTIFY, V_SELECT_PROTOCOL, V_READY, V_HEARTBEAT, V_SESSION_DESCRIPTION, V_SPEAKING = 0, 1, 2, 3, 4, 5
V_HEARTBEAT_ACK, V_HELLO = 6, 8
DAVE_EXECUTE_TRANSITION, DAVE_TRANSITION_READY = 22, 23
MLS_EXTERNAL_SENDER, MLS_KEY_PACKAGE, MLS_WELCOME = 25, 26, 30


@dataclass
class Member:
    id: str
    name: str
    bot: bool = False
    channel_id: str | None = None
    session_id: str = field(default_factory=lambda: secrets.token_hex(16))

    def user(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.name.lower().replace(" ", "_"), "discriminator": "0",
                "global_name": self.name, "avatar": None, "bot": self.bot}

    def member(self) -> dict[str, Any]:
        return {"user": self.user(), "nick": None, "roles": [], "joined_at": "2026-01-01T00:00:00+00:00",
                "deaf": False, "mute": False, "flags": 0}

    def voice_state(self, guild_id: str) -> dict[str, Any]:
        return {"guild_id": guild_id, "channel_id": self.channel_id, "user_id": self.id,
                "session_id": self.session_id, "member": self.member(), "deaf": False, "mute": False,
                "self_deaf": False, "self_mute": False, "self_video": False, "self_stream": False,
                "suppress": False, "request_to_speak_timestamp": None}


@dataclass
class VoiceSession:
    ws: web.WebSocketResponse
    user_id: int
    ssrc: int
    secret_key: bytes
    dave_version: int = 0
    opener: PacketOpener | None = None
    listener: Any = None  # the listening member's davey session
    dave_ready: bool = False
    opcodes: list[int] = field(default_factory=list)
    current: Utterance | None = None
    last: Utterance | None = None
    seq: int = 0
    decoder: Any = None


class LocalDiscordGateway:
    def __init__(self, *, bot_token: str, bot_user_id: str, guild_id: str = DEFAULT_GUILD,
                 dave: bool = True, allowed_intents: int = PRIVILEGED_INTENTS, listener_id: str = DEFAULT_USER,
                 members: list[Member] | None = None, host: str = "127.0.0.1", port: int = 0,
                 tls_dir: Path | None = None) -> None:
        self.bot_token = bot_token
        self.bot_user_id = bot_user_id
        self.guild_id = guild_id
        self.dave = dave
        self.allowed_intents = allowed_intents
        self.listener_id = listener_id
        self.host = host
        self._port = port
        self._tls_dir = tls_dir
        self.members: dict[str, Member] = {m.id: m for m in (members or [
            Member(DEFAULT_USER, "Tester", channel_id=VOICE_CHANNEL),
            Member(OTHER_USER, "Other Member"),
        ])}
        self.members.setdefault(bot_user_id, Member(bot_user_id, "Trainer Bot", bot=True))
        self.channels = {VOICE_CHANNEL: "General", OTHER_VOICE_CHANNEL: "Lounge"}
        # What was seen, for tests and the client; guarded by _changed.
        self._changed = threading.Condition()
        self.identifies: list[dict[str, Any]] = []
        self.voice_requests: list[dict[str, Any]] = []  # opcode 4 payloads (join, move, leave)
        self.voice_identifies: list[dict[str, Any]] = []
        self.voice_sessions = 0
        self.utterances: list[Utterance] = []
        self.closes: list[int] = []
        self._main: web.WebSocketResponse | None = None
        self._main_seq = 0
        self._voice: VoiceSession | None = None
        self._voice_token: str | None = None
        self._external_sender = ExternalSender()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runners: list[web.AppRunner] = []
        self._udp: asyncio.DatagramTransport | None = None
        self.certificate: LoopbackCertificate | None = None
        self.port = 0
        self.voice_port = 0
        self.udp_port = 0

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> LocalDiscordGateway:
        self.certificate = make_loopback_certificate(self._tls_dir, self.host)
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._start_servers())
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                loop.run_until_complete(self._stop_servers())
                loop.close()
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._stop_servers())
            loop.close()

        self._thread = threading.Thread(target=run, name="local-discord-gateway", daemon=True)
        self._thread.start()
        started.wait(30)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(15)
            self._loop = None

    def __enter__(self) -> LocalDiscordGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The value for ``DISCORD_GATEWAY_URL``."""
        return f"ws://{self.host}:{self.port}/"

    @property
    def control_url(self) -> str:
        """Where the HTTP controls are (``/_local/voice``...)."""
        return f"http://{self.host}:{self.port}/_local/voice"

    @property
    def ca_file(self) -> Path:
        """The value for ``DISCORD_CA_FILE``: the CA that signed the voice server's certificate."""
        assert self.certificate is not None, "start() first"
        return self.certificate.ca_file

    async def _start_servers(self) -> None:
        assert self.certificate is not None
        main = web.Application()
        main.router.add_get("/", self._main_gateway)
        # Controls for the command-line client (another process): what was said, and moving people around.
        main.router.add_get("/_local/voice", self._http_voice)
        main.router.add_get(r"/_local/voice/{index:\d+}.wav", self._http_wav)
        main.router.add_post("/_local/voice/move", self._http_move)
        main.router.add_post("/_local/voice/close", self._http_close)
        voice = web.Application()
        voice.router.add_get("/", self._voice_gateway)
        for app, ssl_context, port in ((main, None, self._port), (voice, self.certificate.server_context(), 0)):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, self.host, port, ssl_context=ssl_context)
            await site.start()
            self._runners.append(runner)
        self.port = self._bound_port(self._runners[0])
        self.voice_port = self._bound_port(self._runners[1])
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), local_addr=(self.host, 0))
        self.udp_port = self._udp.get_extra_info("sockname")[1]

    @staticmethod
    def _bound_port(runner: web.AppRunner) -> int:
        return int(runner.addresses[0][1])

    async def _stop_servers(self) -> None:
        for ws in (self._main, self._voice.ws if self._voice else None):
            if ws is not None and not ws.closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(code=1001), 2)
        if self._udp is not None:
            self._udp.close()
        for runner in self._runners:
            await runner.cleanup()

    # -- controls (any thread) --------------------------------------------------------------------------------

    def _submit(self, coro: Any) -> None:
        """Fire and forget on the gateway's loop: a caller on the bot's loop must not block it."""
        assert self._loop is not None, "start() first"
        asyncio.run_coroutine_threadsafe(coro, self._loop)

    def move_member(self, user_id: str, channel_id: str | None) -> None:
        """A member joins ``channel_id``, moves there, or (None) leaves voice."""
        self._submit(self._move_member(user_id, channel_id))

    def close_voice(self, code: int, *, disconnect: bool | None = None) -> None:
        """Close the bot's voice socket with ``code``. Discord sends 4014 after removing the bot from the
        channel (kicked, channel deleted), so with 4014 the bot's voice state is cleared first."""
        self._submit(self._close_voice(code, code == 4014 if disconnect is None else disconnect))

    def wait_for(self, condition: Callable[[LocalDiscordGateway], Any], timeout: float = 20.0) -> Any:
        """Block until ``condition(self)`` is truthy (re-checked on every change); raise TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = condition(self)
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the local gateway did not reach the expected state")
                self._changed.wait(remaining)

    async def until(self, condition: Callable[[LocalDiscordGateway], Any], timeout: float = 20.0) -> Any:
        """``wait_for`` for callers on an event loop (which must keep running meanwhile)."""
        return await asyncio.to_thread(self.wait_for, condition, timeout)

    def bot_channel(self) -> str | None:
        return self.members[self.bot_user_id].channel_id

    def dave_ready(self) -> bool:
        return self._voice is not None and self._voice.dave_ready

    def voice_connected(self) -> bool:
        return self._voice is not None and not self._voice.ws.closed

    def completed_utterances(self) -> list[Utterance]:
        return [u for u in self.utterances if u.complete]

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    # -- HTTP controls ----------------------------------------------------------------------------------------

    async def _http_voice(self, _request: web.Request) -> web.Response:
        return web.json_response({
            "bot_channel": self.bot_channel(), "voice_connected": self.voice_connected(), "dave": self.dave,
            "dave_ready": self.dave_ready(), "channels": self.channels,
            "members": {m.id: {"name": m.name, "channel_id": m.channel_id} for m in self.members.values()},
            "utterances": [u.summary() for u in self.utterances]})

    async def _http_wav(self, request: web.Request) -> web.Response:
        index = int(request.match_info["index"])
        if not 0 <= index < len(self.utterances):
            return web.json_response({"message": "no such utterance"}, status=404)
        return web.Response(body=self.utterances[index].wav_bytes(), content_type="audio/wav")

    async def _http_move(self, request: web.Request) -> web.Response:
        body = await request.json()
        user_id, channel_id = str(body.get("user_id") or self.listener_id), body.get("channel_id")
        if user_id not in self.members or (channel_id is not None and str(channel_id) not in self.channels):
            return web.json_response({"message": "unknown member or channel"}, status=400)
        await self._move_member(user_id, str(channel_id) if channel_id else None)
        return web.json_response({"ok": True})

    async def _http_close(self, request: web.Request) -> web.Response:
        body = await request.json()
        code = int(body.get("code", 4014))
        if not 1000 <= code <= 4999:
            return web.json_response({"message": "close code must be 1000-4999"}, status=400)
        await self._close_voice(code, code == 4014)
        return web.json_response({"ok": True})

    # -- main gateway ---------------------------------------------------------------------------------------

    async def _send_main(self, op: int, data: Any, event: str | None = None) -> None:
        ws = self._main
        if ws is None or ws.closed:
            return
        seq = None
        if op == DISPATCH:
            self._main_seq += 1
            seq = self._main_seq
        await ws.send_str(json.dumps({"op": op, "d": data, "s": seq, "t": event}))

    async def _main_gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        if self._main is not None and not self._main.closed:
            await self._main.close(code=4000)  # one bot session at a time: a newer one replaces it
        self._main, self._main_seq = ws, 0
        await self._send_main(HELLO, {"heartbeat_interval": 41250})
        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                continue
            payload = json.loads(message.data)
            op, data = payload.get("op"), payload.get("d")
            if op == HEARTBEAT:
                await ws.send_str(json.dumps({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None}))
            elif op == IDENTIFY:
                await self._identify(ws, data)
            elif op == VOICE_STATE:
                await self._voice_state_request(data)
        return ws

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        with self._changed:
            self.identifies.append({**{k: v for k, v in data.items() if k != "token"},
                                    "token_ok": data.get("token") == self.bot_token})
            self._changed.notify_all()
        if data.get("token") != self.bot_token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = int(data.get("intents", 0))
        if intents & PRIVILEGED_INTENTS & ~self.allowed_intents:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        bot = self.members[self.bot_user_id]
        bot.session_id = secrets.token_hex(16)
        await self._send_main(DISPATCH, {
            "v": 10, "user": {**bot.user(), "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": self.guild_id, "unavailable": True}], "session_id": bot.session_id,
            "resume_gateway_url": self.url, "application": {"id": self.bot_user_id, "flags": 0},
            "private_channels": [], "relationships": [],
        }, "READY")
        await self._send_main(DISPATCH, self._guild_payload(), "GUILD_CREATE")

    def _guild_payload(self) -> dict[str, Any]:
        gid = self.guild_id
        channels = [{"id": DEFAULT_CHANNEL, "type": 0, "guild_id": gid, "name": "general", "position": 0,
                     "permission_overwrites": [], "parent_id": None, "nsfw": False, "topic": None}]
        channels += [{"id": cid, "type": 2, "guild_id": gid, "name": name, "position": i,
                      "permission_overwrites": [], "bitrate": 64000, "user_limit": 0, "rtc_region": None,
                      "parent_id": None, "nsfw": False} for i, (cid, name) in enumerate(self.channels.items())]
        humans = [m for m in self.members.values() if not m.bot]
        return {
            "id": gid, "name": "Local Guild", "icon": None, "splash": None, "banner": None, "description": None,
            "owner_id": humans[0].id if humans else self.bot_user_id, "afk_timeout": 300,
            "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
            "mfa_level": 0, "premium_tier": 0, "preferred_locale": "en-US", "system_channel_flags": 0,
            "nsfw_level": 0, "features": [], "emojis": [], "stickers": [], "threads": [], "stage_instances": [],
            "guild_scheduled_events": [], "soundboard_sounds": [], "large": False, "unavailable": False,
            "joined_at": "2026-01-01T00:00:00+00:00", "max_members": 100, "premium_progress_bar_enabled": False,
            "roles": [{"id": gid, "name": "@everyone", "permissions": str(EVERYONE_PERMISSIONS), "position": 0,
                       "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}],
            "channels": channels, "member_count": len(self.members),
            "members": [m.member() for m in self.members.values()],
            "voice_states": [{k: v for k, v in m.voice_state(gid).items() if k not in ("guild_id", "member")}
                             for m in self.members.values() if m.channel_id],
        }

    async def _voice_state_request(self, data: dict[str, Any]) -> None:
        with self._changed:
            self.voice_requests.append(dict(data))
            self._changed.notify_all()
        channel_id = data.get("channel_id")
        channel_id = str(channel_id) if channel_id else None
        if channel_id is not None and channel_id not in self.channels:
            return  # Discord ignores a request for a channel that does not exist
        bot = self.members[self.bot_user_id]
        if channel_id is None and bot.channel_id is None:
            return  # leaving while not in voice changes nothing, and Discord sends no update for it
        bot.channel_id = channel_id
        await self._send_main(DISPATCH, bot.voice_state(self.guild_id), "VOICE_STATE_UPDATE")
        if channel_id is not None:
            self._voice_token = secrets.token_hex(8)
            await self._send_main(DISPATCH, {"token": self._voice_token, "guild_id": self.guild_id,
                                             "endpoint": f"{self.host}:{self.voice_port}"}, "VOICE_SERVER_UPDATE")
        self._notify()

    async def _move_member(self, user_id: str, channel_id: str | None) -> None:
        member = self.members[user_id]
        member.channel_id = channel_id
        await self._send_main(DISPATCH, member.voice_state(self.guild_id), "VOICE_STATE_UPDATE")
        self._notify()

    async def _close_voice(self, code: int, disconnect: bool) -> None:
        if disconnect and self.bot_channel() is not None:
            await self._move_member(self.bot_user_id, None)
        session = self._voice
        if session is not None and not session.ws.closed:
            with self._changed:
                self.closes.append(code)
            await session.ws.close(code=code)
        self._notify()

    # -- voice gateway ----------------------------------------------------------------------------------------

    async def _send_voice(self, session: VoiceSession, op: int, data: Any) -> None:
        await session.ws.send_str(json.dumps({"op": op, "d": data, "seq": session.seq}))

    async def _send_voice_binary(self, session: VoiceSession, op: int, payload: bytes) -> None:
        session.seq += 1
        await session.ws.send_bytes(struct.pack(">HB", session.seq, op) + payload)

    async def _voice_gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        session: VoiceSession | None = None
        await ws.send_str(json.dumps({"op": V_HELLO, "d": {"heartbeat_interval": 13750, "v": 8}}))
        try:
            async for message in ws:
                if message.type is WSMsgType.BINARY:
                    if session is not None:
                        await self._voice_binary(session, message.data)
                    continue
                if message.type is not WSMsgType.TEXT:
                    continue
                payload = json.loads(message.data)
                op, data = payload.get("op"), payload.get("d") or {}
                if session is not None:
                    session.opcodes.append(op)
                if op == V_IDENTIFY:
                    session = await self._voice_identify(ws, data)
                elif op == V_HEARTBEAT:
                    await ws.send_str(json.dumps({"op": V_HEARTBEAT_ACK, "d": {"t": data.get("t")}}))
                elif session is None:
                    await ws.close(code=4003, message=b"Not authenticated.")
                elif op == V_SELECT_PROTOCOL:
                    await self._select_protocol(session, data)
                elif op == V_SPEAKING:
                    self._speaking(session, int(data.get("speaking", 0)))
                elif op == DAVE_TRANSITION_READY and session.listener is not None:
                    await self._send_voice(session, DAVE_EXECUTE_TRANSITION,
                                           {"transition_id": data.get("transition_id")})
                    session.dave_ready = True
                    self._notify()
        finally:
            if session is not None:
                self._end_utterance(session)
                if self._voice is session:
                    self._voice = None
            self._notify()
        return ws

    async def _voice_identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> VoiceSession | None:
        bot = self.members[self.bot_user_id]
        with self._changed:
            self.voice_identifies.append({k: v for k, v in data.items() if k != "token"})
        if (data.get("token") != self._voice_token or str(data.get("user_id")) != self.bot_user_id
                or data.get("session_id") != bot.session_id or str(data.get("server_id")) != self.guild_id):
            await ws.close(code=4004, message=b"Authentication failed.")
            return None
        if self._voice is not None and not self._voice.ws.closed:
            await self._voice.ws.close(code=4006)  # the session moved to this socket
        session = VoiceSession(ws, int(bot.id), ssrc=secrets.randbelow(2**31) + 1,
                               secret_key=secrets.token_bytes(32))
        session.dave_version = 1 if self.dave and int(data.get("max_dave_protocol_version") or 0) >= 1 else 0
        session.opcodes.append(V_IDENTIFY)
        self._voice = session
        self.voice_sessions += 1
        await self._send_voice(session, V_READY, {"ssrc": session.ssrc, "ip": self.host, "port": self.udp_port,
                                                  "modes": list(TRANSPORT_MODES), "heartbeat_interval": 1})
        self._notify()
        return session

    async def _select_protocol(self, session: VoiceSession, data: dict[str, Any]) -> None:
        mode = (data.get("data") or {}).get("mode")
        if data.get("protocol") != "udp" or mode not in TRANSPORT_MODES:
            await session.ws.close(code=4016, message=b"Unknown encryption mode.")
            return
        await self._send_voice(session, V_SESSION_DESCRIPTION, {
            "mode": mode, "secret_key": list(session.secret_key), "audio_codec": "opus", "video_codec": None,
            "media_session_id": secrets.token_hex(16), "dave_protocol_version": session.dave_version})
        session.opener = PacketOpener(session.secret_key, sender_id=session.user_id)
        if session.dave_version:
            await self._send_voice_binary(session, MLS_EXTERNAL_SENDER, self._external_sender.package)

    async def _voice_binary(self, session: VoiceSession, data: bytes) -> None:
        op, payload = data[0], data[1:]
        session.opcodes.append(op)
        if op != MLS_KEY_PACKAGE or not session.dave_version:
            return
        import davey

        # The listening member already in the channel commits the server's Add proposal for the bot's key
        # package and welcomes the bot; the transition is then executed once the bot says it is ready.
        channel_id = int(self.bot_channel() or 0)
        listener = davey.DaveSession(session.dave_version, int(self.listener_id), channel_id)
        listener.set_external_sender(self._external_sender.package)
        proposals = self._external_sender.proposals_append(channel_id, 0, [payload])
        try:
            result = listener.process_proposals(davey.ProposalsOperationType.append, proposals[1:])
            if result is None or not result.welcome:
                raise ValueError("the key package produced no commit and welcome")
            listener.process_commit(result.commit)
        except Exception as exc:  # a key package the group cannot take: the session cannot go on
            log.warning("DAVE key package refused: %s", exc)
            await session.ws.close(code=4000, message=b"Invalid MLS key package.")
            return
        session.listener, session.dave_ready = listener, False
        assert session.opener is not None
        session.opener.dave_session = listener
        await self._send_voice_binary(session, MLS_WELCOME, struct.pack(">H", 1) + result.welcome)

    # -- audio --------------------------------------------------------------------------------------------------

    def _speaking(self, session: VoiceSession, flags: int) -> None:
        if flags and session.current is None:
            utterance = Utterance(index=len(self.utterances), ssrc=session.ssrc, dave=session.dave_version > 0)
            with self._changed:
                self.utterances.append(utterance)
            session.current = session.last = utterance
        target = session.current or session.last
        if target is not None:
            target.speaking.append(flags)
        if not flags and session.current is not None:
            assert self._loop is not None
            self._loop.call_later(UTTERANCE_DRAIN_SECONDS, self._end_utterance, session)
        self._notify()

    def _end_utterance(self, session: VoiceSession) -> None:
        utterance = session.current
        if utterance is not None and (not utterance.speaking or utterance.speaking[-1] == 0
                                      or session.ws.closed):
            utterance.opcodes = list(session.opcodes)
            utterance.complete = True
            session.current = None
            self._notify()

    def datagram(self, data: bytes, addr: tuple[str, int], transport: asyncio.DatagramTransport) -> None:
        if len(data) == 74 and data[:2] == b"\x00\x01":
            # IP discovery: answer with the address and port the packet came from.
            ssrc = data[4:8]
            address = addr[0].encode().ljust(64, b"\x00")
            transport.sendto(b"\x00\x02\x00\x46" + ssrc + address + struct.pack(">H", addr[1]), addr)
            return
        session = self._voice
        if session is None or session.opener is None:
            return
        target = session.current or session.last
        if target is None:
            return  # audio with no SPEAKING first: Discord would not route it
        try:
            _, opus, e2ee = session.opener.open(data)
        except Exception as exc:
            target.undecodable += 1
            target.errors.append(f"decrypt: {type(exc).__name__}: {exc}")
            return
        if target.first_frame_at is None:
            target.first_frame_at = time.monotonic()
        target.frames += 1
        target.e2ee_frames += int(e2ee)
        target.silence += int(opus == OPUS_SILENCE)
        try:
            if session.decoder is None:
                from discord.opus import Decoder

                session.decoder = Decoder()
            target.pcm.extend(session.decoder.decode(opus))
        except Exception as exc:  # every packet is decoded: a header page sent as audio shows up here
            target.undecodable += 1
            target.errors.append(f"decode ({opus[:8]!r}): {exc}")


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, gateway: LocalDiscordGateway) -> None:
        self._gateway = gateway
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self._transport is not None
        self._gateway.datagram(data, addr, self._transport)
