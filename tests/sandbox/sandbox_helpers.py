"""Helpers shared by the sandbox tests (importable: pytest puts this folder on sys.path)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from smooch_desktop.sandbox import SandboxServer


class FakeClock:
    """A settable Unix clock so time-dependent rules are tested without sleeping."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Api:
    """Thin helper: demo-app Basic auth, v1.1 full paths, percent-encoded user segments."""

    srv: SandboxServer
    session: requests.Session

    @property
    def auth(self) -> tuple[str, str]:
        return (self.srv.key_id, self.srv.secret)

    def user_url(self, user_ref: str, suffix: str = "", version: str = "v1.1") -> str:
        base = f"{self.srv.base_url}/{version}/apps/{self.srv.app_id}/appusers/"
        return base + quote(user_ref, safe="") + suffix

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("auth", self.auth)
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, url, **kwargs)

    def post_message(self, user_ref: str, body: dict[str, Any], **kw: Any) -> requests.Response:
        return self.request("POST", self.user_url(user_ref, "/messages"), json=body, **kw)

    def get_messages(self, user_ref: str, **params: Any) -> requests.Response:
        return self.request("GET", self.user_url(user_ref, "/messages"), params=params)

    def activity(self, user_ref: str, body: dict[str, Any]) -> requests.Response:
        return self.request("POST", self.user_url(user_ref, "/conversation/activity"), json=body)


@dataclass
class V2:
    """Thin v2 helper: demo-app Basic auth, ``/v2/apps/{appId}`` (or ``/sc/v2/…``) paths."""

    srv: SandboxServer
    session: requests.Session
    prefix: str = "/v2"

    @property
    def app_url(self) -> str:
        return f"{self.srv.base_url}{self.prefix}/apps/{self.srv.app_id}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("auth", (self.srv.key_id, self.srv.secret))
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.app_url + path, **kwargs)

    def user(self, ref: str) -> requests.Response:
        return self.request("GET", "/users/" + quote(ref, safe=""))

    def default_conversation(self, ref: str) -> str:
        """The id of the user's default conversation (the v1.1 one)."""
        user_id = self.user(ref).json()["user"]["id"]
        resp = self.request("GET", "/conversations", params={"filter[userId]": user_id})
        found: str = next(c["id"] for c in resp.json()["conversations"] if c["isDefault"])
        return found

    def post(self, conversation_id: str, body: dict[str, Any]) -> requests.Response:
        return self.request("POST", f"/conversations/{conversation_id}/messages", json=body)

    def messages(self, conversation_id: str, **params: str) -> requests.Response:
        return self.request("GET", f"/conversations/{conversation_id}/messages", params=params)

    def activity(self, conversation_id: str, body: dict[str, Any]) -> requests.Response:
        return self.request("POST", f"/conversations/{conversation_id}/activity", json=body)


def business_text(text: str, **author: Any) -> dict[str, Any]:
    """A v2 message body: a text from the business."""
    return {"author": {"type": "business", **author}, "content": {"type": "text", "text": text}}
