"""A structured message (buttons, image, file, carousel, list) and the API's rules for it.

:class:`StructuredMessage` is what the structured-message editor builds: a message type,
text, a media URL, message-level actions and carousel/list items, each field kept as the
agent typed it (an amount stays "25.00" until it is checked). :meth:`~StructuredMessage.
problems` checks it by the rules of the API version in use (v1.1: MessagePost, Action
and MessageItem; v2: ``messagePost`` content, ``item``, ``action`` / ``actionSubset``)
and returns :class:`Problem` values: a ``field`` path (``items.1.actions.0.uri``) the
editor uses to put the sentence next to the field, and a sentence that names the card,
button and field in words. :meth:`~StructuredMessage.to_outgoing` turns a valid one into
the :class:`~smooch_desktop.api.models.OutgoingMessage` the outbox stores and the
adapters send.

The rules, and the choices where the API documents none:

* Types ``text``, ``image``, ``file``, ``carousel``, ``list``. ``location`` is checked
  (coordinates in range) but can't be converted: ``OutgoingMessage`` has no coordinates.
* Text at most 4,096 characters (v2's limit; the app's for both versions). A text
  message needs text or a button. Carousels and lists carry no text (v2's schemas have
  none to post; in v1.1 it would only be a fallback most channels never show).
* Image and file messages need an http(s) ``mediaUrl``. Buttons are allowed on text,
  image and list messages, and on file messages in v1.1 only (v2's ``fileMessage`` has
  no ``actions``); carousel buttons live in its cards.
* Message-level button types: link, postback, reply, location request, buy, webview;
  ``reply`` and ``locationRequest`` only with each other. A list's own buttons and every
  card's buttons are the item types: link, postback, buy, webview, and ``share`` (v1.1
  only; v2 has none). A list takes at most 10 buttons of its own (v2).
* 1 to 10 cards, each with a title (1 to 128 characters), a description of at most 128,
  an optional http(s) image and 1 to 3 buttons. v1.1 documents no length limits; the
  stricter v2 ones are used for both, as ``core/validation.py`` does for sender names.
* Every button but share needs a label. Link and webview addresses (and the webview's
  fallback) must be http(s) URLs with a host (LINE drops anything else; the app refuses
  ``javascript:`` and the like everywhere, see ``validation.http_url_problem``); postback
  and reply need a payload; buy an amount like 25.00 (sent in cents), optionally a
  three-letter currency; a webview's size is compact, tall or full.

Plain Python: no Qt, no I/O (docs/architecture.md#qt-free-core).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Final, NamedTuple

from smooch_desktop.api.models import OutgoingMessage, Sender
from smooch_desktop.core.validation import TEXT_LIMIT, http_url_problem

V1 = "v1.1"
V2 = "v2"

MESSAGE_TYPES: Final = ("text", "image", "file", "carousel", "list", "location")
#: The types the editor offers (a location can't be sent as an OutgoingMessage).
EDITABLE_TYPES: Final = ("text", "image", "file", "carousel", "list")
ACTION_TYPES: Final = ("link", "postback", "reply", "locationRequest", "buy", "webview", "share")
MESSAGE_ACTION_TYPES: Final = ("link", "postback", "reply", "locationRequest", "buy", "webview")
ITEM_ACTION_TYPES_V1: Final = ("link", "postback", "buy", "webview", "share")
ITEM_ACTION_TYPES_V2: Final = ("link", "postback", "buy", "webview")
WEBVIEW_SIZES: Final = ("compact", "tall", "full")
QUICK_REPLY_TYPES: Final = frozenset({"reply", "locationRequest"})

MAX_ITEMS: Final = 10
MAX_ITEM_ACTIONS: Final = 3
MAX_LIST_ACTIONS: Final = 10
MAX_SHORT: Final = 128
MAX_URL: Final = 2048

#: How each type is named in sentences and in the editor.
TYPE_NAMES: Final = {
    "text": "text with buttons",
    "image": "image",
    "file": "file",
    "carousel": "carousel",
    "list": "list",
    "location": "location",
}
ACTION_NAMES: Final = {
    "link": "link",
    "postback": "postback",
    "reply": "reply",
    "locationRequest": "location request",
    "buy": "buy",
    "webview": "webview",
    "share": "share",
}


class Problem(NamedTuple):
    """One thing to fix: ``field`` is a dotted path (``items.0.actions.1.uri``, ``text``,
    ``items``); ``message`` one sentence naming the card, button and field."""

    field: str
    message: str


@dataclass(frozen=True)
class StructuredAction:
    """A button as typed: ``target`` is the link/webview URI, the payload, or the amount
    ("25.00"), depending on ``type``; ``fallback`` and ``size`` are the webview's."""

    type: str = "reply"
    text: str = ""
    target: str = ""
    fallback: str = ""
    size: str = ""
    currency: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The API action object (call on a valid action: amounts are parsed here)."""
        kind = self.type
        action: dict[str, Any] = {"type": kind}
        if kind != "share":
            action["text"] = self.text.strip()
        if kind in ("link", "webview"):
            action["uri"] = self.target.strip()
        elif kind in ("postback", "reply"):
            action["payload"] = self.target.strip()
        elif kind == "buy":
            action["amount"] = parse_amount(self.target)
            if self.currency.strip():
                action["currency"] = self.currency.strip().lower()
        if kind == "webview":
            action["fallback"] = self.fallback.strip()
            if self.size.strip():
                action["size"] = self.size.strip()
        return action

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> StructuredAction:
        """An action object (from the outbox or shorthand) as editor fields."""
        kind = str(raw.get("type", ""))
        target = ""
        if kind in ("link", "webview"):
            target = str(raw.get("uri", ""))
        elif kind in ("postback", "reply"):
            target = str(raw.get("payload", ""))
        elif kind == "buy":
            amount = raw.get("amount")
            if isinstance(amount, int) and not isinstance(amount, bool):
                target = f"{amount // 100}.{amount % 100:02d}"
        return cls(
            type=kind,
            text=str(raw.get("text", "")),
            target=target,
            fallback=str(raw.get("fallback", "")),
            size=str(raw.get("size", "")),
            currency=str(raw.get("currency", "")),
        )


@dataclass(frozen=True)
class StructuredItem:
    """A carousel or list card."""

    title: str = ""
    description: str = ""
    media_url: str = ""
    actions: tuple[StructuredAction, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        item: dict[str, Any] = {"title": self.title.strip()}
        if self.description.strip():
            item["description"] = self.description.strip()
        if self.media_url.strip():
            item["mediaUrl"] = self.media_url.strip()
        item["actions"] = [a.to_dict() for a in self.actions]
        return item


@dataclass(frozen=True)
class StructuredMessage:
    """A message with structure, as the editor holds it (see the module docstring)."""

    type: str = "text"
    text: str = ""
    media_url: str = ""
    actions: tuple[StructuredAction, ...] = ()
    items: tuple[StructuredItem, ...] = ()
    #: A location message's (latitude, longitude) as typed.
    coordinates: tuple[str, str] = ("", "")

    @property
    def has_items(self) -> bool:
        return self.type in ("carousel", "list")

    def summary(self) -> str:
        """A few words for the composer's "attached" line: 'Carousel: 3 cards'."""
        name = TYPE_NAMES.get(self.type, self.type).capitalize()
        if self.has_items:
            n = len(self.items)
            return f"{name}: {n} card{'s' if n != 1 else ''}"
        n = len(self.actions)
        buttons = f"{n} button{'s' if n != 1 else ''}"
        if self.type == "text":
            return f"Text with {buttons}"
        return f"{name} with {buttons}" if n else name

    def problems(self, version: str = V1) -> list[Problem]:
        """Everything the API of ``version`` ("v1.1" or "v2") would refuse, in order."""
        found: list[Problem] = []
        kind = self.type
        if kind not in MESSAGE_TYPES:
            found.append(Problem("type", f'"{kind}" is not a message type Smooch knows.'))
            return found
        text = self.text.strip()
        if len(self.text) > TEXT_LIMIT:
            excess = len(self.text) - TEXT_LIMIT
            found.append(
                Problem(
                    "text",
                    f"The text is {len(self.text):,} characters long; the limit is "
                    f"{TEXT_LIMIT:,}. Remove {excess:,} character{'s' if excess != 1 else ''}.",
                )
            )
        if kind == "text" and not text and not self.actions:
            found.append(Problem("text", "Write the text, or add a button."))
        if kind in ("carousel", "list") and text:
            found.append(
                Problem(
                    "text",
                    f"A {kind} carries no text of its own; put it in a card's description or "
                    "send it as a message before the cards.",
                )
            )
        if kind in ("image", "file"):
            noun = "The image address" if kind == "image" else "The file address"
            found.extend(_url_problems("media_url", self.media_url, noun, required=True))
        if kind == "location":
            found.extend(_coordinate_problems(self.coordinates))
        found.extend(self._action_problems(version))
        if kind in ("carousel", "list"):
            found.extend(self._item_problems(version))
        return found

    def _action_problems(self, version: str) -> list[Problem]:
        kind = self.type
        if not self.actions:
            return []
        if kind == "carousel":
            return [Problem("actions", "A carousel's buttons go in its cards.")]
        if kind == "location":
            return [Problem("actions", "A location message can't have buttons.")]
        if kind == "file" and version == V2:
            return [Problem("actions", "A file message can't have buttons in API v2.")]
        allowed = _item_action_types(version) if kind == "list" else MESSAGE_ACTION_TYPES
        found: list[Problem] = []
        if kind == "list" and len(self.actions) > MAX_LIST_ACTIONS:
            found.append(
                Problem(
                    "actions", f"A list can have at most {MAX_LIST_ACTIONS} buttons of its own."
                )
            )
        for i, action in enumerate(self.actions):
            found.extend(_action_problems(action, f"actions.{i}", f"Button {i + 1}", allowed))
        kinds = {a.type for a in self.actions}
        if kinds & QUICK_REPLY_TYPES and kinds - QUICK_REPLY_TYPES:
            found.append(
                Problem(
                    "actions",
                    "Reply and location request buttons can only be combined with each other.",
                )
            )
        return found

    def _item_problems(self, version: str) -> list[Problem]:
        found: list[Problem] = []
        if not self.items:
            found.append(Problem("items", f"A {self.type} needs at least one card."))
        elif len(self.items) > MAX_ITEMS:
            found.append(
                Problem(
                    "items",
                    f"A {self.type} can have at most {MAX_ITEMS} cards ({len(self.items)} now).",
                )
            )
        allowed = _item_action_types(version)
        for i, item in enumerate(self.items):
            where, card = f"items.{i}", f"Card {i + 1}"
            title = item.title.strip()
            if not title:
                found.append(Problem(f"{where}.title", f"{card} needs a title."))
            elif len(title) > MAX_SHORT:
                found.append(
                    Problem(
                        f"{where}.title",
                        f"{card}: the title can be at most {MAX_SHORT} characters long "
                        f"(this one has {len(title)}).",
                    )
                )
            description = item.description.strip()
            if len(description) > MAX_SHORT:
                found.append(
                    Problem(
                        f"{where}.description",
                        f"{card}: the description can be at most {MAX_SHORT} characters long "
                        f"(this one has {len(description)}).",
                    )
                )
            found.extend(
                _url_problems(
                    f"{where}.media_url",
                    item.media_url,
                    f"{card}: the image address",
                    required=False,
                )
            )
            if not item.actions:
                found.append(Problem(f"{where}.actions", f"{card} needs at least one button."))
            elif len(item.actions) > MAX_ITEM_ACTIONS:
                found.append(
                    Problem(
                        f"{where}.actions",
                        f"{card} can have at most {MAX_ITEM_ACTIONS} buttons "
                        f"({len(item.actions)} now).",
                    )
                )
            for j, action in enumerate(item.actions):
                found.extend(
                    _action_problems(
                        action, f"{where}.actions.{j}", f"{card}, button {j + 1}", allowed
                    )
                )
        return found

    def to_outgoing(self, sender: Sender | None = None) -> OutgoingMessage:
        """The message to enqueue. Raises ValueError if it has problems for v1.1 or is a
        location (``OutgoingMessage`` can't carry coordinates)."""
        if self.type == "location":
            raise ValueError("location messages can't be sent as an OutgoingMessage")
        problems = self.problems(V1)
        if problems:
            raise ValueError(problems[0].message)
        return OutgoingMessage(
            text="" if self.has_items else self.text.strip(),
            sender=sender or Sender(),
            type=self.type,
            actions=tuple(a.to_dict() for a in self.actions),
            media_url=self.media_url.strip() if self.type in ("image", "file") else "",
            items=tuple(i.to_dict() for i in self.items) if self.has_items else (),
        )

    @classmethod
    def from_outgoing(cls, message: OutgoingMessage) -> StructuredMessage:
        """The editor's fields for a message (an unsent one taken back to edit)."""
        return cls(
            type=message.type if message.type in MESSAGE_TYPES else "text",
            text=message.text,
            media_url=message.media_url,
            actions=tuple(StructuredAction.from_dict(dict(a)) for a in message.actions),
            items=tuple(
                StructuredItem(
                    title=str(i.get("title", "")),
                    description=str(i.get("description", "")),
                    media_url=str(i.get("mediaUrl", "")),
                    actions=tuple(
                        StructuredAction.from_dict(dict(a))
                        for a in i.get("actions", ())
                        if isinstance(a, dict)
                    ),
                )
                for i in message.items
            ),
        )

    def to_json(self) -> str:
        """Every field as typed (valid or not), for keeping it across restarts (drafts)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> StructuredMessage:
        """The inverse of :meth:`to_json`; ValueError for text that isn't one."""
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a kept structured message: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError("not a kept structured message")

        def text(source: dict[str, Any], key: str) -> str:
            value = source.get(key, "")
            return value if isinstance(value, str) else ""

        def action(raw_action: Any) -> StructuredAction:
            fields = raw_action if isinstance(raw_action, dict) else {}
            return StructuredAction(
                **{f.name: text(fields, f.name) for f in dataclasses.fields(StructuredAction)}
            )

        def actions(source: dict[str, Any]) -> tuple[StructuredAction, ...]:
            value = source.get("actions")
            return tuple(action(a) for a in value) if isinstance(value, list) else ()

        items = data.get("items")
        coordinates = data.get("coordinates")
        return cls(
            type=text(data, "type") or "text",
            text=text(data, "text"),
            media_url=text(data, "media_url"),
            actions=actions(data),
            items=tuple(
                StructuredItem(
                    title=text(i, "title"),
                    description=text(i, "description"),
                    media_url=text(i, "media_url"),
                    actions=actions(i),
                )
                for i in (items if isinstance(items, list) else [])
                if isinstance(i, dict)
            ),
            coordinates=(
                (str(coordinates[0]), str(coordinates[1]))
                if isinstance(coordinates, list) and len(coordinates) == 2
                else ("", "")
            ),
        )

    def with_type(self, kind: str) -> StructuredMessage:
        """The same content as another type (fields the new type doesn't use are kept,
        so switching back and forth in the editor loses nothing)."""
        return replace(self, type=kind)


def needs_structure(message: OutgoingMessage) -> bool:
    """Whether a message can't be written back as composer shorthand (it has cards, a
    file, or a button the shorthand can't express)."""
    if message.items or message.type not in ("text", "image"):
        return True
    for action in message.actions:
        kind = action.get("type")
        if kind not in ("link", "postback", "reply", "locationRequest", "buy"):
            return True
        if kind == "buy" and action.get("currency"):
            return True
    return False


def parse_amount(raw: str) -> int:
    """Cents for an amount like "25", "25.5" or "25.00"; ValueError if it isn't one."""
    value = raw.strip().lstrip("$").strip()
    whole, dot, cents = value.partition(".")
    if (
        not whole.isdigit()
        or not whole.isascii()
        or (dot and not (cents.isdigit() and len(cents) <= 2))
    ):
        raise ValueError(value)
    try:
        amount = int(Decimal(f"{whole}.{cents or '0'}") * 100)
    except InvalidOperation:  # pragma: no cover - only digits get here
        raise ValueError(value) from None
    if amount <= 0:
        raise ValueError(value)
    return amount


def _item_action_types(version: str) -> tuple[str, ...]:
    return ITEM_ACTION_TYPES_V2 if version == V2 else ITEM_ACTION_TYPES_V1


def _url_problems(where: str, raw: str, noun: str, *, required: bool) -> list[Problem]:
    url = raw.strip()
    if not url:
        if required:
            return [Problem(where, f"{noun} is needed, as in https://example.com/photo.jpg.")]
        return []
    if len(url) > MAX_URL:
        return [Problem(where, f"{noun} can be at most {MAX_URL:,} characters long.")]
    problem = http_url_problem(url, noun)
    return [Problem(where, problem)] if problem is not None else []


def _action_problems(
    action: StructuredAction, where: str, button: str, allowed: tuple[str, ...]
) -> list[Problem]:
    kind = action.type
    if kind not in ACTION_TYPES:
        return [Problem(f"{where}.type", f'{button}: "{kind}" is not a button type.')]
    if kind not in allowed:
        names = ", ".join(ACTION_NAMES[k] for k in allowed)
        return [
            Problem(
                f"{where}.type",
                f"{button}: a {ACTION_NAMES[kind]} button can't go here (allowed: {names}).",
            )
        ]
    label = action.text.strip()
    named = f'{button} ("{label}")' if label else button
    found: list[Problem] = []
    if kind != "share" and not label:
        found.append(Problem(f"{where}.text", f"{button} needs a label."))
    target = action.target.strip()
    if kind in ("link", "webview"):
        found.extend(
            _url_problems(f"{where}.target", target, f"{named}: the address", required=True)
        )
    elif kind in ("postback", "reply") and not target:
        found.append(Problem(f"{where}.target", f"{named}: a {kind} button needs a payload."))
    elif kind == "buy":
        if "," in target:
            found.append(
                Problem(
                    f"{where}.target",
                    f"{named}: write the amount with a dot for cents and no thousands "
                    "separator, as in 1000.00.",
                )
            )
        else:
            try:
                parse_amount(target)
            except ValueError:
                found.append(
                    Problem(f"{where}.target", f"{named}: the amount must be a number like 25.00.")
                )
        currency = action.currency.strip()
        if currency and not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
            found.append(
                Problem(
                    f"{where}.currency",
                    f"{named}: the currency must be a three-letter code such as usd.",
                )
            )
    if kind == "webview":
        found.extend(
            _url_problems(
                f"{where}.fallback",
                action.fallback,
                f"{named}: the fallback address",
                required=True,
            )
        )
        if action.size.strip() and action.size.strip() not in WEBVIEW_SIZES:
            found.append(
                Problem(f"{where}.size", f"{named}: the size must be compact, tall or full.")
            )
    return found


def _coordinate_problems(coordinates: tuple[str, str]) -> list[Problem]:
    found: list[Problem] = []
    for index, (name, bound) in enumerate((("latitude", 90.0), ("longitude", 180.0))):
        raw = coordinates[index].strip() if index < len(coordinates) else ""
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not abs(value) <= bound:  # also catches NaN
            found.append(
                Problem(
                    f"coordinates.{index}",
                    f"The {name} must be a number between -{bound:g} and {bound:g}.",
                )
            )
    return found


@dataclass(frozen=True)
class ComposerPreview:
    """What the composer would send now: messages in order, and what stops it."""

    messages: tuple[OutgoingMessage, ...] = ()
    problems: tuple[str, ...] = field(default_factory=tuple)


def composer_preview(
    text: str, structure: StructuredMessage | None, version: str = V1
) -> ComposerPreview:
    """The messages Send would queue for ``text`` (with its shorthand) and an attached
    ``structure``, and the problems that would stop it — the same rules Send applies."""
    from smooch_desktop.core.shorthand import parse_shorthand

    messages: list[OutgoingMessage] = []
    problems: list[str] = []
    if text.strip():
        parsed = parse_shorthand(text)
        problems.extend(parsed.problems)
        if len(parsed.text) > TEXT_LIMIT:
            problems.append(
                f"The text is {len(parsed.text):,} characters long; the limit is {TEXT_LIMIT:,}."
            )
        messages.append(
            OutgoingMessage(
                text=parsed.text,
                type=parsed.message_type,
                actions=tuple(copy.deepcopy(parsed.actions)),
                media_url=parsed.media_url or "",
            )
        )
    if structure is not None:
        found = structure.problems(version)
        problems.extend(p.message for p in found)
        if structure.type != "location":
            messages.append(_lenient_outgoing(structure))
    return ComposerPreview(tuple(messages), tuple(problems))


def _lenient_outgoing(structure: StructuredMessage) -> OutgoingMessage:
    """The message as it would look, even while invalid (bad amounts shown as 0)."""

    def action(a: StructuredAction) -> dict[str, Any]:
        try:
            return a.to_dict()
        except ValueError:
            return {**replace(a, target="1").to_dict(), "amount": 0}

    return OutgoingMessage(
        text="" if structure.has_items else structure.text.strip(),
        type=structure.type,
        actions=tuple(action(a) for a in structure.actions),
        media_url=structure.media_url.strip() if structure.type in ("image", "file") else "",
        items=tuple(
            {
                "title": i.title.strip(),
                "description": i.description.strip(),
                "mediaUrl": i.media_url.strip(),
                "actions": [action(a) for a in i.actions],
            }
            for i in structure.items
        )
        if structure.has_items
        else (),
    )
