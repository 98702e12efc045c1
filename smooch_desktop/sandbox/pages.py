"""End-user web pages: what a Web Messenger user would see of the agent's replies.

``/`` lists every app's users; ``/users/<appId>/<userRef>`` shows one conversation with
bubbles, the business sender's name and avatar, times, a live "… is typing" indicator and
a form to write back as the end user. Structured messages are drawn as the user would see
them: images as thumbnails (opening full size), files with name and size, locations with
their coordinates and a map link, carousels (a row of cards) and lists (a column), forms
(read-only), and buttons styled by type. A reply button is pressed for real (it becomes the
user's message, with the button's text and payload); a postback button records the
postback event the business would get by webhook (never a message); link and webview
buttons open http(s) URIs in a new tab; buy, share and location request buttons are shown
but do nothing, and the page says so.

The page polls ``/users/<appId>/<userRef>/feed?after=…`` every 500 ms for new entries
(messages and postback notes) and the typing state, and posts a button press to
``/users/<appId>/<userRef>/actions/<actionId>`` (``page_handlers.py``). Every entry is
rendered here, on the server, by one function (:func:`timeline`), so the first paint and
the live updates look the same; the script only inserts that HTML.

Everything is self-contained (no external CSS/JS) and every piece of user-controlled
content is escaped with :func:`html.escape` (the script sets text only through
``textContent``). Only http(s) URLs ever become ``src``/``href``; any other URI (such as
``javascript:``) is never written into the page at all.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit

from smooch_desktop.sandbox.validation import is_http_url

#: ``media_of(mediaUrl)``: ``{"filename", "mediaType", "size"}`` of the sandbox's own file.
MediaLookup = Callable[[str], dict[str, Any] | None]

#: Buttons a page can show but that need a real channel (payment, share sheet, GPS).
_INERT_ACTIONS: Final = {"buy": "buy", "share": "share", "locationRequest": "location request"}

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
.col{display:flex;flex-direction:column;max-width:72%;min-width:0}
.row.me .col{align-items:flex-end}
.row.biz .col{align-items:flex-start}
.avatar{width:32px;height:32px;border-radius:50%;flex:none;background:#d0d5dd;object-fit:cover}
.sender{font-size:12px;color:#667085;margin:0 0 2px 10px}
.bubble{padding:8px 12px;border-radius:16px;white-space:pre-wrap;word-wrap:break-word;
 background:#fff;box-shadow:0 1px 1px rgba(0,0,0,.08);margin-top:2px}
.row.me .bubble{background:#0a66d8;color:#fff}
.row.me .bubble a{color:#fff}
.media{display:block;max-width:260px;max-height:260px;border-radius:12px;margin-top:4px;
 background:#d0d5dd}
.photo{padding:0;overflow:hidden;max-width:260px}
.photo .media{margin:0;border-radius:0}
.photo .caption{padding:8px 12px}
.file{display:flex;gap:8px;align-items:center;text-decoration:none;color:inherit}
.file .icon{font-size:22px}
.file .fname{font-weight:600;text-decoration:underline}
.file .fsize{font-size:12px;opacity:.75}
.location .coords{font:12px ui-monospace,Menlo,Consolas,monospace}
.cards{display:flex;gap:8px;margin-top:4px}
.cards.carousel{overflow-x:auto;max-width:calc(100vw - 90px);padding-bottom:4px}
.cards.list{flex-direction:column}
.item{background:#fff;border-radius:12px;box-shadow:0 1px 2px rgba(0,0,0,.12);overflow:hidden;
 flex:none;display:flex;flex-direction:column}
.cards.carousel .item{width:210px}
.cards.list .item{flex-direction:row;align-items:center;gap:10px;padding-right:10px;width:340px;
 max-width:100%}
.item img{width:100%;height:120px;object-fit:cover;background:#d0d5dd}
.cards.list .item img{width:80px;height:80px;flex:none}
.item .body{padding:8px 10px;display:flex;flex-direction:column;gap:2px;min-width:0}
.item .title{font-weight:600}
.item .desc{font-size:13px;color:#475467}
.actions{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px}
.item .actions{margin-top:4px}
.action{border:1px solid #0a66d8;color:#0a66d8;border-radius:6px;padding:4px 10px;font:inherit;
 font-size:13px;text-decoration:none;background:#fff;cursor:pointer;display:inline-flex;
 align-items:center;gap:4px}
.action.reply{border-radius:16px;background:#e8f0fc}
.action.reply img{width:16px;height:16px;border-radius:50%}
.action.postback{background:#fff}
.action.link::after{content:"\\2197";font-size:11px}
.action.webview::after{content:"\\25A3";font-size:11px}
.action[disabled],.action.off{border-style:dashed;border-color:#98a2b3;color:#667085;
 background:#f2f4f7;cursor:not-allowed}
.action:not([disabled]):not(.off):hover{background:#0a66d8;color:#fff}
.stale .replies{display:none}
.hint{font-size:11px;color:#667085;margin:3px 4px 0}
.form label{display:block;font-size:13px;margin-top:4px}
.form input,.form select{display:block;width:100%;margin-top:2px;padding:4px 6px;font:inherit;
 border:1px solid #d0d5dd;border-radius:6px;background:#f9fafb}
.event{margin:4px auto;font-size:12px;color:#475467;background:#fff8e1;border:1px solid #f5d97b;
 border-radius:8px;padding:5px 10px;max-width:80%;text-align:center}
.time{font-size:11px;color:#98a2b3;margin:2px 10px 0}
#typing{display:flex;gap:8px;align-items:center;max-width:760px;width:100%;margin:0 auto;
 padding:0 16px 6px;min-height:40px;color:#667085;font-size:13px}
#typing[hidden]{visibility:hidden;display:flex}
.dots span{display:inline-block;width:7px;height:7px;margin:0 1px;border-radius:50%;
 background:#98a2b3;animation:blink 1.2s infinite}
.dots span:nth-child(2){animation-delay:.2s}.dots span:nth-child(3){animation-delay:.4s}
@keyframes blink{0%,80%,100%{opacity:.25}40%{opacity:1}}
form#composer{display:flex;gap:8px;padding:10px 16px 16px;max-width:760px;width:100%;
 margin:0 auto}
form#composer input{flex:1;padding:10px 14px;border:1px solid #d0d5dd;border-radius:20px;
 font:inherit}
form#composer button{padding:10px 18px;border:0;border-radius:20px;background:#0a66d8;
 color:#fff;font:inherit;font-weight:600;cursor:pointer}
.empty{color:#667085;text-align:center;margin-top:40px}
"""

_JS: Final = """
(function () {
  "use strict";
  var body = document.body;
  var feed = body.getAttribute("data-feed");
  var press = body.getAttribute("data-press");
  var post = body.getAttribute("data-post");
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
  function localizeTimes(root) {
    Array.prototype.forEach.call(root.querySelectorAll(".time[data-received]"), function (t) {
      var d = new Date(parseFloat(t.getAttribute("data-received")) * 1000);
      t.textContent = d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
    });
  }
  function markStale() {
    var rows = list.querySelectorAll(".row.msg");
    Array.prototype.forEach.call(rows, function (r, i) {
      r.classList.toggle("stale", i < rows.length - 1);
    });
  }
  function add(entry) {
    if (seen[entry.id]) { return; }
    seen[entry.id] = true;
    var empty = document.getElementById("empty");
    if (empty) { empty.remove(); }
    var tpl = document.createElement("template");
    tpl.innerHTML = entry.html;  /* rendered and escaped by the sandbox (pages.py) */
    localizeTimes(tpl.content);
    list.appendChild(tpl.content);
    if (entry.received > last) { last = entry.received; }
    markStale();
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
  function fetchFeed() {
    return fetch(feed + "?after=" + encodeURIComponent(String(last)), {cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (d) { (d.entries || []).forEach(add); showTyping(d.typing); }
      })
      .catch(function () {});
  }
  function poll() {
    fetchFeed().then(function () { setTimeout(poll, 500); });
  }
  list.addEventListener("click", function (ev) {
    var button = ev.target.closest ? ev.target.closest("button[data-action]") : null;
    if (!button || button.disabled) { return; }
    button.disabled = true;
    fetch(press + encodeURIComponent(button.getAttribute("data-action")), {method: "POST"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d && d.entry) { add(d.entry); } })
      .catch(function () {})
      .then(function () { button.disabled = false; });
  });
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value;
    if (!text.trim()) { return; }
    input.value = "";
    fetch(post, {method: "POST", headers: {"Content-Type": "application/json"},
                 body: JSON.stringify({text: text})})
      .then(function (r) { if (!r.ok) { throw new Error("refused"); } return fetchFeed(); })
      .catch(function () { input.value = text; });
  });
  localizeTimes(list);
  markStale();
  list.scrollTop = list.scrollHeight;
  poll();
})();
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _seg(value: str) -> str:
    """One percent-encoded path segment (a ``/`` in a userId must not split the path)."""
    return quote(value, safe="")


def _http(value: Any) -> str | None:
    """``value`` if it is an absolute http(s) URL (the only kind written into a page)."""
    return value if isinstance(value, str) and is_http_url(value) else None


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


def _time(received: float) -> str:
    return f'<div class="time" data-received="{received!r}">{_time_label(received)}</div>'


def size_label(size: int) -> str:
    """A file size in words: ``812 bytes``, ``240 KB``, ``2.0 MB`` (1 KB = 1,024 bytes)."""
    if size < 1024:
        return f"{size} byte{'s' if size != 1 else ''}"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _file_name(url: str) -> str:
    """The last path segment of a URL, percent-decoded (``file`` if there is none)."""
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    return unquote(name) or "file"


def _amount(action: dict[str, Any]) -> str:
    amount = action.get("amount")
    if not isinstance(amount, int):
        return ""
    currency = action.get("currency")
    return f"{amount / 100:.2f}" + (f" {str(currency).upper()}" if currency else "")


def _button(action: dict[str, Any], notes: list[str]) -> str:
    """One action as the end user sees it; adds a sentence to ``notes`` when it can't work."""
    kind = str(action.get("type"))
    text = action.get("text") or ("Share" if kind == "share" else kind)
    label = _e(text)
    action_id = _e(action.get("_id", ""))
    if kind in ("reply", "postback"):
        icon = _http(action.get("iconUrl")) if kind == "reply" else None
        img = f'<img src="{_e(icon)}" alt="">' if icon else ""
        what = "Reply" if kind == "reply" else "Postback"
        return (
            f'<button type="button" class="action {kind}" data-action="{action_id}"'
            f' title="{what} button">{img}{label}</button>'
        )
    if kind in ("link", "webview"):
        href = _http(action.get("uri"))
        if href is None and kind == "webview":
            href = _http(action.get("fallback"))
        title = "Opens in a new tab" if kind == "link" else "A webview; opens in a new tab here"
        if href is not None:
            return (
                f'<a class="action {kind}" href="{_e(href)}" target="_blank"'
                f' rel="noopener noreferrer" title="{title}">{label}</a>'
            )
        notes.append("Only http(s) links are opened here; this one is not.")
        return f'<span class="action {kind} off">{label}</span>'
    if kind in _INERT_ACTIONS:
        if kind == "buy" and (amount := _amount(action)):
            label = f"{label} · {_e(amount)}"
        notes.append(f"A {_INERT_ACTIONS[kind]} button needs a real channel: it does nothing here.")
        return f'<button type="button" class="action {_e(kind)}" disabled>{label}</button>'
    return f'<span class="action off">{label}</span>'


def _hints(notes: list[str]) -> str:
    return "".join(f'<div class="hint">{_e(note)}</div>' for note in dict.fromkeys(notes))


def _actions(actions: Iterable[dict[str, Any]], notes: list[str]) -> str:
    """A message's buttons; reply and location request buttons are quick replies, shown
    (with their hints) only while the message is the latest, as a Web Messenger does."""
    replies: list[str] = []
    others: list[str] = []
    reply_notes: list[str] = []
    for action in actions:
        if action.get("type") in ("reply", "locationRequest"):
            replies.append(_button(action, reply_notes))
        else:
            others.append(_button(action, notes))
    out = ""
    if others:
        out += '<div class="actions">' + "".join(others) + "</div>"
    if replies:
        out += (
            '<div class="replies"><div class="actions">'
            + "".join(replies)
            + "</div>"
            + _hints(reply_notes)
            + "</div>"
        )
    return out


def _items(msg: dict[str, Any], notes: list[str]) -> str:
    """Carousel items side by side, list items one under the other, each a card."""
    layout = "list" if msg.get("type") == "list" else "carousel"
    cards = []
    for item in msg.get("items") or []:
        parts = ['<div class="item">']
        if (src := _http(item.get("mediaUrl"))) is not None:
            parts.append(f'<img src="{_e(src)}" alt="{_e(item.get("altText", ""))}">')
        parts.append(f'<div class="body"><div class="title">{_e(item.get("title"))}</div>')
        if item.get("description"):
            parts.append(f'<div class="desc">{_e(item["description"])}</div>')
        parts.append(_actions(item.get("actions") or [], notes))
        parts.append("</div></div>")
        cards.append("".join(parts))
    return f'<div class="cards {layout}">' + "".join(cards) + "</div>"


def _media(msg: dict[str, Any], media_of: MediaLookup) -> str:
    """An image as a thumbnail linking to the full size; a file as its name and size."""
    url = _http(msg.get("mediaUrl"))
    if url is None:
        return ""
    if msg.get("type") == "image":
        return (
            f'<a href="{_e(url)}" target="_blank" rel="noopener noreferrer">'
            f'<img class="media" src="{_e(url)}" alt="{_e(msg.get("altText", ""))}"></a>'
        )
    details = media_of(url)
    name = details["filename"] if details else _file_name(url)
    size = f'<span class="fsize">{_e(size_label(int(details["size"])))}</span>' if details else ""
    return (
        f'<a class="bubble file" href="{_e(url)}" target="_blank" rel="noopener noreferrer">'
        f'<span class="icon">&#128196;</span><span><span class="fname">{_e(name)}</span><br>'
        f"{size}</span></a>"
    )


def _location(msg: dict[str, Any]) -> str:
    coords = msg.get("coordinates") or {}
    lat, long = coords.get("lat"), coords.get("long")
    place = msg.get("location") or {}
    lines = [f"<b>{_e(place['name'])}</b>"] if place.get("name") else []
    if place.get("address"):
        lines.append(_e(place["address"]))
    lines.append(f'<span class="coords">{_e(lat)}, {_e(long)}</span>')
    link = f"https://maps.google.com/maps?q={quote(str(lat))},{quote(str(long))}"
    lines.append(f'<a href="{_e(link)}" target="_blank" rel="noopener noreferrer">Open map</a>')
    return '<div class="bubble location">&#128205; ' + "<br>".join(lines) + "</div>"


def _form(msg: dict[str, Any], notes: list[str]) -> str:
    parts = ['<div class="bubble form">']
    for field in msg.get("fields") or []:
        label = _e(field.get("label") or field.get("name"))
        if field.get("type") == "select":
            options = "".join(
                f"<option>{_e(o.get('label'))}</option>" for o in field.get("options") or []
            )
            control = f"<select disabled>{options}</select>"
        else:
            control = f'<input disabled placeholder="{_e(field.get("placeholder", ""))}">'
        parts.append(f"<label>{label}{control}</label>")
    parts.append("</div>")
    notes.append("Forms can't be filled in on this page.")
    return "".join(parts)


def _message_row(msg: dict[str, Any], media_of: MediaLookup, stale: bool) -> str:
    """One message as its row (the business on the left, the end user on the right)."""
    mine = msg.get("role") == "appUser"
    classes = f"row msg {'me' if mine else 'biz'}{' stale' if stale else ''}"
    parts = [f'<div class="{classes}" data-id="{_e(msg["_id"])}">']
    if not mine:
        src = _http(msg.get("avatarUrl"))
        src_attr = f' src="{_e(src)}"' if src else ""
        parts.append(f'<img class="avatar"{src_attr} alt="">')
    parts.append('<div class="col">')
    if not mine and msg.get("name"):
        parts.append(f'<div class="sender">{_e(msg["name"])}</div>')
    kind = msg.get("type")
    notes: list[str] = []
    media = _media(msg, media_of) if kind in ("image", "file") else ""
    text = msg.get("text")
    if kind == "image" and media:
        caption = f'<div class="caption">{_e(text)}</div>' if text else ""
        parts.append(f'<div class="bubble photo">{media}{caption}</div>')
    elif kind == "location":
        parts.append(_location(msg))
    elif text:
        parts.append(f'<div class="bubble">{_e(text)}</div>')
    if kind == "file":
        parts.append(media)
    if kind in ("carousel", "list"):
        parts.append(_items(msg, notes))
    if kind == "form":
        parts.append(_form(msg, notes))
    parts.append(_actions(msg.get("actions") or [], notes))
    parts.append(_hints(notes))
    parts.append(_time(float(msg.get("received", 0.0))))
    parts.append("</div></div>")
    return "".join(parts)


def _postback_row(event: dict[str, Any]) -> str:
    """A pressed postback button: a note on the page, since it is no message."""
    action = event.get("action") or {}
    return (
        f'<div class="row note" data-id="{_e(event["_id"])}"><div class="event">'
        f"Postback &#8220;{_e(action.get('text'))}&#8221; (payload "
        f"<code>{_e(action.get('payload'))}</code>) went to the business as a webhook event, "
        "not as a message: the conversation does not show it."
        f"{_time(float(event.get('received', 0.0)))}</div></div>"
    )


def timeline(
    messages: list[dict[str, Any]],
    postbacks: list[dict[str, Any]],
    media_of: MediaLookup,
    *,
    after: float | None = None,
    latest_message_id: str | None = None,
) -> list[dict[str, Any]]:
    """Messages and postback notes by time: ``[{"id", "received", "html"}]``.

    ``after`` keeps entries received at or after it (the page dedupes by id, so an entry
    sharing a millisecond with the last one seen is never lost). Reply buttons show only
    on the latest message (``latest_message_id``, else the last of ``messages``), as a
    Web Messenger shows quick replies.
    """
    latest = latest_message_id or (messages[-1]["_id"] if messages else None)
    entries = [
        {
            "id": m["_id"],
            "received": m["received"],
            "html": _message_row(m, media_of, stale=m["_id"] != latest),
        }
        for m in messages
    ] + [{"id": e["_id"], "received": e["received"], "html": _postback_row(e)} for e in postbacks]
    if after is not None:
        entries = [e for e in entries if e["received"] >= after]
    entries.sort(key=lambda e: e["received"])
    return entries


def user_page(
    app_id: str,
    user: dict[str, Any],
    entries: list[dict[str, Any]],
    typing: dict[str, Any],
) -> str:
    """One end user's conversation as their Web Messenger would show it.

    ``entries`` come from :func:`timeline`.
    """
    name = display_name(user)
    page = f"/users/{_seg(app_id)}/{_seg(user['_id'])}"
    post = f"/_sandbox/apps/{_seg(app_id)}/appusers/{_seg(user['_id'])}/messages"
    last = entries[-1]["received"] if entries else 0.0
    channels = ", ".join(c["platform"] for c in user.get("clients", [])) or "no channel"
    bubbles = "".join(e["html"] for e in entries) or (
        '<p class="empty" id="empty">No messages yet.</p>'
    )
    label = f"{typing.get('name') or 'The business'} is typing…"
    avatar = _http(typing.get("avatarUrl"))
    avatar_attr = f' src="{_e(avatar)}"' if avatar else " hidden"
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
    attrs = (
        f' data-feed="{_e(page + "/feed")}" data-press="{_e(page + "/actions/")}"'
        f' data-post="{_e(post)}" data-last="{last!r}"'
    )
    return _page(f"{name} — sandbox messenger", attrs, content, _JS)


def not_found_page(message: str) -> str:
    """A friendly 404 for a browser (wrong app or user in a page URL)."""
    content = (
        '<header><h1>Smooch sandbox</h1></header><main><section class="card">'
        f'<p>{_e(message)}.</p><p><a href="/">All users</a></p></section></main>'
    )
    return _page("Not found — Smooch sandbox", "", content)
