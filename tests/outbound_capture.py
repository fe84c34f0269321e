"""Capturing and scanning everything OAO sends out (S4, issue 5 §3).

Three pieces the outbound scan tests share:
- `Sent`: one captured message (request or response) with every byte of it,
- `RecordingASGI`: wraps a receiver's ASGI app (a webhook endpoint, a partner
  OAO instance) and records each request it gets and each response it gives,
- the checks: canaries found anywhere in the bytes, and the data class of every
  field of a JSON payload under a registered payload kind (what the disclosure
  log must say was sent).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from oao.sharing import kinds  # noqa: F401 - fills the payload-kind registry
from oao.sharing.classes import payload_kind

UNCLASSIFIED = "UNCLASSIFIED"


@dataclass
class Sent:
    """One message that crossed the boundary: where it went and all of its bytes."""

    channel: str  # webhook | provider | federation
    direction: str  # request | response
    method: str
    url: str  # with its query string
    headers: list[tuple[str, str]]
    body: bytes
    status: int | None = None

    @property
    def path(self) -> str:
        return httpx.URL(self.url).path

    def text(self) -> str:
        """Every byte of the message as text: the URL (query included), each header, the body."""
        return "\n".join([f"{self.method} {self.url}", *(f"{k}: {v}" for k, v in self.headers),
                          self.body.decode("utf-8", "replace")])

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def from_httpx(channel: str, request: httpx.Request) -> Sent:
    request.read()
    return Sent(channel=channel, direction="request", method=request.method, url=str(request.url),
                headers=list(request.headers.items()), body=request.content)


class RecordingASGI:
    """An ASGI wrapper that records every HTTP request it receives and every response it sends."""

    def __init__(self, app: Any, channel: str) -> None:
        self.app, self.channel = app, channel
        self.sent: list[Sent] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def recording_receive() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        status: list[int] = []
        out_headers: list[tuple[str, str]] = []
        out_chunks: list[bytes] = []

        async def recording_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                out_headers.extend((k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", []))
            elif message["type"] == "http.response.body":
                out_chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, recording_receive, recording_send)
        query = scope.get("query_string", b"").decode("latin-1")
        host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        url = f"http://{host}{scope['path']}" + (f"?{query}" if query else "")
        in_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])]
        with self._lock:
            self.sent.append(Sent(self.channel, "request", scope["method"], url, in_headers, b"".join(chunks)))
            self.sent.append(Sent(self.channel, "response", scope["method"], url, out_headers, b"".join(out_chunks),
                                  status=status[0] if status else None))


# --- scanning ----------------------------------------------------------------------------------------------

def canary_pattern(value: str) -> re.Pattern[str]:
    """A canary matched case-insensitively; a number only as a whole number (not inside a longer one)."""
    if value.isdigit():
        return re.compile(rf"(?<!\d){re.escape(value)}(?!\d)")
    return re.compile(re.escape(value), re.IGNORECASE)


def canaries_in(messages: Iterable[Sent], canaries: dict[str, str]) -> list[tuple[str, str, str]]:
    """(canary name, value, where) for every canary found in any byte of any message."""
    patterns = {name: (value, canary_pattern(value)) for name, value in canaries.items()}
    hits = []
    for message in messages:
        text = message.text()
        for name, (value, pattern) in patterns.items():
            if pattern.search(text):
                hits.append((name, value, f"{message.channel} {message.direction} {message.method} {message.url}"))
    return hits


def classes_of(kind_name: str, payload: Any) -> dict[str, str]:
    """Each field path of `payload` (down to the registered prefix that classifies it) and its data class;
    UNCLASSIFIED for a leaf no registration covers (the projection should never let one through)."""
    kind = payload_kind(kind_name)
    out: dict[str, str] = {}

    def walk(value: Any, path: str) -> None:
        found = kind.class_of(path) if (kind is not None and path) else None
        if found is not None:
            out[path] = found
            return
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(sub, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            for sub in value:
                walk(sub, path + "[]")
        elif path:
            out[path] = UNCLASSIFIED

    walk(payload, "")
    return out

