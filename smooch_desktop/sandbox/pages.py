"""End-user web pages: what a Web Messenger user would see of the agent's replies.

``/`` lists every app's users; ``/users/<appId>/<userRef>`` shows one conversation with
bubbles, the business sender's name and avatar, times, a live "… is typing" indicator and
a form to write back as the end user. New messages and typing come from a small inline
poll (every 500 ms) of ``/_sandbox/apps/<appId>/appusers/<userRef>/messages?after=…``.

Everything is self-contained (no external CSS/JS) and every piece of user-controlled
content is escaped: server-side with :func:`html.escape`, client-side by only ever using
``textContent``/attributes. Only http(s) URLs become ``src``/``href``.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

from smooch_desktop.sandbox.validation import is_http_url

_CSS: Final = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
 background:#eef1f5;color:#1d2330}
a{color:#0a66d8}
header{background:#0a66d8;color:#fff;padding:14px 20px;display:flex;align-items:center;gap:12px}
header h1{font-size:17px;margin:0;font-weight:600}
header .sub{opacity:.85;font-size:13px}
main{max-width:760px;margin:0 auto;padding:16px}
.card{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:16px;
 margin-bottom:16px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:7px 8px;border-bottom:1px solid #e4e7ec;vertical-align:top}
th{font-size:12px;text-transform:uppercase;color:#667085;letter-spacing:.04em}
code{font:12px ui-monospace,Menlo,Consolas,monospace;background:#f2f4f7;padding:1px 4px;
 border-radius:4px}
.chat{display:flex;flex-direction:column;height:100vh}
#messages{flex:1;overflow-y:auto;padding:16px 16px 4px;max-width:760px;width:100%;margin:0 auto}
.row{display:flex;gap:8px;margin:6px 0;align-items:flex-end}
.row.me{justify-content:flex-end}
.col{display:flex;flex-direction:column;max-width:72%}
.row.me .col{align-items:flex-end}
.avatar{width:32px;height:32px;border-radius:50%;flex:none;background:#d0d5dd;object-fit:cover}
.sender{font-size:12px;color:#667085;margin:0 0 2px 10px}
.bubble{padding:8px 12px;border-radius:16px;white-space:pre-wrap;word-wrap:break-word;
 background:#fff;box-shadow:0 1px 1px rgba(0,0,0,.08)}
.row.me .bubble{background:#0a66d8;color:#fff}
.media{max-width:260px;max-height:260px;border-radius:12px;margin-top:4px}
.actions{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px}
.action{border:1px solid #0a66d8;color:#0a66d8;border-radius:14px;padding:3px 10px;
 font-size:13px;text-decoration:none;background:#fff}
.time{font-size:11px;color:#98a2b3;margin:2px 10px 0}
#typing{display:flex;gap:8px;align-items:center;max-width:760px;width:100%;margin:0 auto;
 padding:0 16px 6px;min-height:40px;color:#667085;font-size:13px}
#typing[hidden]{visibility:hidden;display:flex}
.dots span{display:inline-block;width:7px;height:7px;margin:0 1px;border-radius:50%;
 background:#98a2b3;animation:blink 1.2s infinite}
.dots span:nth-child(2){animation-delay:.2s}.dots span:nth-child(3){animation-delay:.4s}
@keyframes blink{0%,80%,100%{opacity:.25}40%{opacity:1}}
form{display:flex;gap:8px;padding:10px 16px 16px;max-width:760px;width:100%;margin:0 auto}
form input{flex:1;padding:10px 14px;border:1px solid #d0d5dd;border-radius:20px;font:inherit}
form button{padding:10px 18px;border:0;border-radius:20px;background:#0a66d8;color:#fff;
 font:inherit;font-weight:600;cursor:pointer}
.empty{color:#667085;text-align:center;margin-top:40px}
"""

_JS: Final = """
(function () {
  "use strict";
  var body = document.body;
  var feed = body.getAttribute("data-feed");
  var last = parseFloat(body.getAttribute("data-last") || "0");
  var list = document.getElementById("messages");
  var typing = document.getElementById("typing");
  var typingLabel = document.getElementById("typing-label");
  var typingAvatar = document.getElementById("typing-avatar");
  var form = document.getElementById("composer");
  var input = document.getElementById("text");
  var seen = {};
  Array.prototype.forEach.call(list.querySelectorAll("[data-id]"), function (el) {
    seen[el.getAttribute("data-id")] = true;
  });
  function safeUrl(u) {
    if (typeof u !== "string") { return null; }
    try {
      var url = new URL(u, location.href);
      return (url.protocol === "http:" || url.protocol === "https:") ? url.href : null;
    } catch (e) { return null; }
  }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }
  function fmtTime(ts) {
    var d = new Date(ts * 1000);
    return d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
  }
  function localizeTimes(root) {
    Array.prototype.forEach.call(root.querySelectorAll(".time[data-received]"), function (t) {
      t.textContent = fmtTime(parseFloat(t.getAttribute("data-received")));
    });
  }
  function render(m) {
    if (seen[m._id]) { return; }
    seen[m._id] = true;
    var empty = document.getElementById("empty");
    if (empty) { empty.remove(); }
    var mine = m.role === "appUser";
    var row = el("div", "row " + (mine ? "me" : "biz"));
    row.setAttribute("data-id", m._id);
    if (!mine) {
      var img = el("img", "avatar");
      var src = safeUrl(m.avatarUrl);
      if (src) { img.src = src; }
      img.alt = "";
      row.appendChild(img);
    }
    var col = el("div", "col");
    if (!mine && m.name) { col.appendChild(el("div", "sender", m.name)); }
    var text = m.text;
    if (m.type === "carousel" || m.type === "list") {
      text = (m.items || []).map(function (i) { return "\\u2022 " + i.title; }).join("\\n");
    }
    if (text) { col.appendChild(el("div", "bubble", text)); }
    var media = safeUrl(m.mediaUrl);
    if (media && m.type === "image") {
      var pic = el("img", "media"); pic.src = media; pic.alt = ""; col.appendChild(pic);
    } else if (media) {
      var label = media.split("/").pop() || "file";
      try { label = decodeURIComponent(label); } catch (e) { /* keep it encoded */ }
      var link = el("a", "bubble", label);
      link.href = media; link.target = "_blank"; link.rel = "noopener"; col.appendChild(link);
    }
    if (m.actions && m.actions.length) {
      var box = el("div", "actions");
      m.actions.forEach(function (a) {
        var href = safeUrl(a.uri);
        var b = el(href ? "a" : "span", "action", a.text || a.type);
        if (href) { b.href = href; b.target = "_blank"; b.rel = "noopener"; }
        box.appendChild(b);
      });
      col.appendChild(box);
    }
    col.appendChild(el("div", "time", fmtTime(m.received)));
    row.appendChild(col);
    list.appendChild(row);
    if (m.received > last) { last = m.received; }
    list.scrollTop = list.scrollHeight;
  }
  function showTyping(t) {
    if (t && t.typing) {
      typingLabel.textContent = (t.name || "The business") + " is typing\\u2026";
      var src = safeUrl(t.avatarUrl);
      if (src) { typingAvatar.src = src; typingAvatar.hidden = false; }
      else { typingAvatar.removeAttribute("src"); typingAvatar.hidden = true; }
      typing.hidden = false;
    } else {
      typing.hidden = true;
    }
  }
  function poll() {
    fetch(feed + "?after=" + encodeURIComponent(String(last)), {cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (d) { (d.messages || []).forEach(render); showTyping(d.typing); }
      })
      .catch(function () {})
      .then(function () { setTimeout(poll, 500); });
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value;
    if (!text.trim()) { return; }
    input.value = "";
    fetch(feed, {method: "POST", headers: {"Content-Type": "application/json"},
                 body: JSON.stringify({text: text})})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d && d.message) { render(d.message); } })
      .catch(function () { input.value = text; });
  });
  localizeTimes(list);
  list.scrollTop = list.scrollHeight;
  poll();
})();
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _seg(value: str) -> str:
    """One percent-encoded path segment (a ``/`` in a userId must not split the path)."""
    return quote(value, safe="")


def display_name(user: dict[str, Any]) -> str:
    """``givenName surname``, else the userId, else the ``_id`` (like SmoochDesk)."""
    name = " ".join(p for p in (user.get("givenName"), user.get("surname")) if p).strip()
    return name or user.get("userId") or user["_id"]


def user_ref(user: dict[str, Any]) -> str:
    """The reference a page link uses: the business userId when there is one."""
    return str(user.get("userId") or user["_id"])


def _page(title: str, body_attrs: str, content: str, script: str = "") -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body{body_attrs}>{content}"
        + (f"<script>{script}</script>" if script else "")
        + "</body></html>\n"
    )


def index_page(
    apps: list[dict[str, Any]], users: dict[str, list[dict[str, Any]]], base: str
) -> str:
    """The list of apps and their users, each linking to the user's conversation page."""
    cards = []
    for app in apps:
        rows = []
        for user in users.get(app["_id"], []):
            href = f"/users/{_seg(app['_id'])}/{_seg(user_ref(user))}"
            channels = ", ".join(c["platform"] for c in user["clients"]) or "none"
            last = user.get("lastMessage") or {}
            rows.append(
                "<tr>"
                f'<td><a href="{_e(href)}">{_e(display_name(user))}</a></td>'
                f"<td><code>{_e(user.get('userId') or '—')}</code></td>"
                f"<td><code>{_e(user['_id'])}</code></td>"
                f"<td>{_e(channels)}</td>"
                f"<td>{user['messageCount']}</td>"
                f"<td>{_e((last.get('text') or '')[:60])}</td>"
                "</tr>"
            )
        table = (
            "<table><tr><th>User</th><th>userId</th><th>_id</th><th>Channels</th>"
            "<th>Msgs</th><th>Last message</th></tr>" + "".join(rows) + "</table>"
            if rows
            else '<p class="empty">No users yet.</p>'
        )
        keys = ", ".join(f"<code>{_e(k)}</code>" for k in app["keyIds"])
        cards.append(
            f'<section class="card"><h2>{_e(app["name"])}</h2>'
            f"<p>App id <code>{_e(app['_id'])}</code> · key id {keys}</p>{table}</section>"
        )
    content = (
        "<header><h1>Smooch sandbox</h1>"
        f'<span class="sub">API base URL <code>{_e(base)}</code></span></header><main>'
        + "".join(cards)
        + '<section class="card"><p>Inspect: <a href="/_sandbox/log">request log</a> · '
        '<a href="/_sandbox/faults">faults</a></p></section></main>'
    )
    return _page("Smooch sandbox", "", content)


def _time_label(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M")


def _bubble(msg: dict[str, Any]) -> str:
    """Server-side rendering of one message (same markup the poll script produces)."""
    mine = msg.get("role") == "appUser"
    parts = [f'<div class="row {"me" if mine else "biz"}" data-id="{_e(msg["_id"])}">']
    if not mine:
        avatar = msg.get("avatarUrl")
        src = f' src="{_e(avatar)}"' if isinstance(avatar, str) and is_http_url(avatar) else ""
        parts.append(f'<img class="avatar"{src} alt="">')
    parts.append('<div class="col">')
    if not mine and msg.get("name"):
        parts.append(f'<div class="sender">{_e(msg["name"])}</div>')
    text = msg.get("text")
    if msg.get("type") in ("carousel", "list"):
        text = "\n".join(f"• {item.get('title', '')}" for item in msg.get("items", []))
    if text:
        parts.append(f'<div class="bubble">{_e(text)}</div>')
    media = msg.get("mediaUrl")
    if isinstance(media, str) and is_http_url(media):
        if msg.get("type") == "image":
            parts.append(f'<img class="media" src="{_e(media)}" alt="">')
        else:
            label = media.rsplit("/", 1)[-1] or "file"
            parts.append(
                f'<a class="bubble" href="{_e(media)}" target="_blank" rel="noopener">'
                f"{_e(label)}</a>"
            )
    actions = msg.get("actions") or []
    if actions:
        parts.append('<div class="actions">')
        for action in actions:
            label = _e(action.get("text") or action.get("type"))
            uri = action.get("uri")
            if isinstance(uri, str) and is_http_url(uri):
                parts.append(
                    f'<a class="action" href="{_e(uri)}" target="_blank" rel="noopener">{label}</a>'
                )
            else:
                parts.append(f'<span class="action">{label}</span>')
        parts.append("</div>")
    received = float(msg.get("received", 0.0))
    parts.append(f'<div class="time" data-received="{received!r}">{_time_label(received)}</div>')
    parts.append("</div></div>")
    return "".join(parts)


def user_page(
    app_id: str,
    user: dict[str, Any],
    messages: list[dict[str, Any]],
    typing: dict[str, Any],
) -> str:
    """One end user's conversation as their Web Messenger would show it."""
    name = display_name(user)
    feed = f"/_sandbox/apps/{_seg(app_id)}/appusers/{_seg(user['_id'])}/messages"
    last = messages[-1]["received"] if messages else 0.0
    channels = ", ".join(c["platform"] for c in user.get("clients", [])) or "no channel"
    bubbles = "".join(_bubble(m) for m in messages) or (
        '<p class="empty" id="empty">No messages yet.</p>'
    )
    label = f"{typing.get('name') or 'The business'} is typing…"
    avatar = typing.get("avatarUrl")
    avatar_attr = (
        f' src="{_e(avatar)}"' if isinstance(avatar, str) and is_http_url(avatar) else " hidden"
    )
    content = (
        '<div class="chat">'
        f'<header><a href="/" style="color:#fff;text-decoration:none">&#8592;</a>'
        f'<div><h1>{_e(name)}</h1><div class="sub">'
        f"{_e(user.get('userId') or user['_id'])} · {_e(channels)}</div></div></header>"
        f'<div id="messages">{bubbles}</div>'
        f'<div id="typing"{"" if typing.get("typing") else " hidden"}>'
        f'<img class="avatar" id="typing-avatar"{avatar_attr} alt="">'
        '<span class="dots"><span></span><span></span><span></span></span>'
        f'<span id="typing-label">{_e(label)}</span></div>'
        '<form id="composer" autocomplete="off">'
        f'<input id="text" placeholder="Write as {_e(name)}…" aria-label="Message">'
        '<button type="submit">Send</button></form></div>'
    )
    attrs = f' data-feed="{_e(feed)}" data-last="{last!r}"'
    return _page(f"{name} — sandbox messenger", attrs, content, _JS)


def not_found_page(message: str) -> str:
    """A friendly 404 for a browser (wrong app or user in a page URL)."""
    content = (
        '<header><h1>Smooch sandbox</h1></header><main><section class="card">'
        f'<p>{_e(message)}.</p><p><a href="/">All users</a></p></section></main>'
    )
    return _page("Not found — Smooch sandbox", "", content)
