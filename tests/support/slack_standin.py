"""A local stand-in for Slack on 127.0.0.1: records ``chat.postMessage``/``chat.update``
calls and webhook posts, and can be told to fail. Used by the tests and by ``make demo``."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

SLACK_HOOKS = "https://hooks.slack.com/"


@dataclass
class Posted:
    endpoint: str  # "chat.postMessage", "chat.update", "webhook", "response_url"
    body: dict[str, Any]
    token: str | None

    @property
    def channel(self) -> str | None:
        return self.body.get("channel")

    @property
    def text(self) -> str:
        return str(self.body.get("text", ""))

    def all_text(self) -> str:
        """Fallback text plus every block's text, for assertions on what a reader sees."""
        return self.text + "\n" + json.dumps(self.body.get("blocks", []))

    def action_ids(self) -> list[str]:
        return [
            element.get("action_id", "")
            for block in self.body.get("blocks", [])
            if block.get("type") == "actions"
            for element in block.get("elements", [])
        ]


@dataclass
class SlackStandIn:
    messages: list[Posted] = field(default_factory=list)
    fail_with: int | None = None  # answer every request with this HTTP status
    on_message: Callable[[Posted], None] | None = None
    emails: dict[str, str] = field(default_factory=dict)  # users.info: user id -> e-mail
    _server: ThreadingHTTPServer | None = None

    @property
    def api_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    @property
    def webhook_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhook/T000/B000/XXX"

    @property
    def response_url(self) -> str:
        """A response_url as Slack sends it. The door accepts only Slack's own hooks, so tests
        route that host to this stand-in at the last step (``local``), after every check."""
        return f"{SLACK_HOOKS}commands/T000/1234/abcd"

    def local(self, url: str) -> str:
        assert self._server is not None
        base = f"http://127.0.0.1:{self._server.server_address[1]}/response/"
        return base + url.removeprefix(SLACK_HOOKS) if url.startswith(SLACK_HOOKS) else url

    def start(self) -> SlackStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length).decode()
                if standin.fail_with:
                    self._answer(standin.fail_with, {"ok": False, "error": "fatal_error"})
                    return
                content_type = self.headers.get("Content-Type", "")
                if "json" in content_type:
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                    if isinstance(body.get("blocks"), str):
                        body["blocks"] = json.loads(body["blocks"])
                auth = self.headers.get("Authorization", "")
                token = auth.removeprefix("Bearer ") if auth else None
                if self.path.startswith("/api/"):
                    endpoint = self.path.removeprefix("/api/")
                elif self.path.startswith("/webhook/"):
                    endpoint = "webhook"
                else:
                    endpoint = "response_url"
                posted = Posted(endpoint, body, token)
                standin.messages.append(posted)
                if endpoint == "users.info":
                    user = str(body.get("user", ""))
                    if user not in standin.emails:
                        self._answer(200, {"ok": False, "error": "user_not_found"})
                        return
                    profile = {"email": standin.emails[user], "real_name": user}
                    self._answer(200, {"ok": True, "user": {"id": user, "profile": profile}})
                    return
                if standin.on_message:
                    standin.on_message(posted)
                if endpoint == "webhook":
                    self._answer(200, None)
                else:
                    self._answer(
                        200,
                        {
                            "ok": True,
                            "channel": body.get("channel"),
                            "ts": f"{len(standin.messages)}.000100",
                        },
                    )

            def _answer(self, status: int, payload: dict[str, Any] | None) -> None:
                data = b"ok" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header(
                    "Content-Type", "text/plain" if payload is None else "application/json"
                )
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def to(self, channel: str) -> list[Posted]:
        return [m for m in self.messages if m.channel == channel]

    def replies(self) -> list[Posted]:
        """What was posted to response_urls: answers shown where the user asked."""
        return [m for m in self.messages if m.endpoint == "response_url"]
