"""Demo app, credentials and end users who "already wrote in".

Ids and credentials are deterministic constants so docs, tests and screenshots can name
them. Times are relative to when the store is created (rounded to the minute) so the
demo always looks recent.

The users cover what the desktop app must handle:

* ``alice@example.com`` — web (primary) + messenger, short conversation ending with her
  question: the typical "reply to this" case;
* ``bob-1042`` — iOS, 250 messages: history paging;
* ``vip/chloé`` — telegram; a ``userId`` with a slash and non-ASCII, so it only works if the
  client percent-encodes path segments; v2 also shows her a second personal conversation
  (:data:`DEMO_SECOND_CONVERSATION_ID`, "Returns"), so a conversation can be picked;
* an anonymous user known only by ``_id`` (:data:`DEMO_ANONYMOUS_ID`), messenger;
* ``david@example.com`` — no clients at all (his channel was removed): nothing can
  deliver to him.
"""

from __future__ import annotations

from typing import Any, Final

from smooch_desktop.sandbox.store import ZERO_HASH, app_maker_author_id, email_hash, iso

DEMO_APP_ID: Final = "5e1f0000000000000000a001"
DEMO_KEY_ID: Final = "app_5e1f0000000000000000k001"
DEMO_SECRET: Final = "sandbox-secret-do-not-use-in-production"
DEMO_APP_NAME: Final = "Sandbox Demo Shop"

DEMO_AGENT_NAME: Final = "Sam (Support)"
DEMO_AGENT_EMAIL: Final = "agent@example.com"

DEMO_ALICE_ID: Final = "alice@example.com"
DEMO_PAGING_USER_ID: Final = "bob-1042"
DEMO_PAGING_MESSAGE_COUNT: Final = 250
DEMO_ENCODED_USER_ID: Final = "vip/chloé"
DEMO_NO_CLIENTS_USER_ID: Final = "david@example.com"


def _hex_id(kind: int, n: int) -> str:
    """Deterministic 24-hex id: ``5e1f`` + 4-hex kind + 16-hex serial."""
    return f"5e1f{kind:04x}{n:016x}"


DEMO_ANONYMOUS_ID: Final = _hex_id(0xB, 4)
#: Chloé's second conversation (v2 only; v1.1 sees just her default one).
DEMO_SECOND_CONVERSATION_ID: Final = _hex_id(0xC, 103)
DEMO_SECOND_CONVERSATION_NAME: Final = "Returns"

#: Emails whose Gravatar hash the sandbox's avatar endpoint answers with a real picture.
DEMO_AVATAR_EMAILS: Final = (
    DEMO_AGENT_EMAIL,
    "alice@example.com",
    "bob@example.com",
    "chloe@example.com",
    "david@example.com",
)

_BOB_SCRIPT: Final = (
    ("appUser", "Hi, the app logs me out every time I switch to another app."),
    ("appMaker", "Sorry about that! Which iOS version are you on?"),
    ("appUser", "iOS 17.4, app version 3.2.1."),
    ("appMaker", "Thanks. Could you try signing out and in again, then tell me if it persists?"),
    ("appUser", "Did that. Still happening."),
    ("appMaker", "I have passed it to our mobile team with your details."),
    ("appUser", "OK, any idea how long?"),
    ("appMaker", "Usually a day or two. I will keep you posted here."),
)


def _client(n: int, platform: str, primary: bool, last_seen: float, name: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "web": {"browserName": "Firefox", "os": "Linux", "currentTitle": "Demo Shop"},
        "messenger": {"locale": "en_US"},
        "telegram": {"language_code": "fr"},
        "ios": {"os": "iOS", "osVersion": "17.4", "appVersion": "3.2.1"},
    }[platform]
    return {
        "id": _hex_id(0xE, n),
        "platform": platform,
        "status": "active",
        "active": True,
        "primary": primary,
        "lastSeen": iso(last_seen),
        "displayName": name,
        "info": info,
    }


def _message(serial: int, user: dict[str, Any], role: str, text: str, at: float) -> dict[str, Any]:
    """A stored message (private ``__avatarHash`` form, see :mod:`.store`)."""
    if role == "appMaker":
        return {
            "_id": _hex_id(0xD, serial),
            "authorId": app_maker_author_id(DEMO_AGENT_EMAIL),
            "role": "appMaker",
            "type": "text",
            "name": DEMO_AGENT_NAME,
            "text": text,
            "received": round(at, 3),
            "source": {"type": "api"},
            "__avatarHash": email_hash(DEMO_AGENT_EMAIL),
        }
    clients = user["clients"]
    platform = clients[0]["platform"] if clients else "web"
    name = " ".join(p for p in (user.get("givenName"), user.get("surname")) if p)
    msg = {
        "_id": _hex_id(0xD, serial),
        "authorId": user["_id"],
        "role": "appUser",
        "type": "text",
        "text": text,
        "received": round(at, 3),
        "source": {"type": platform},
        "__avatarHash": email_hash(user["email"]) if user.get("email") else ZERO_HASH,
    }
    if name:
        msg["name"] = name
    return msg


def demo_app(now: float, *, with_users: bool = True) -> dict[str, Any]:
    """The demo app record in the store's internal form (users only if ``with_users``)."""
    base = float(int(now) // 60 * 60)
    minute, hour, day = 60.0, 3600.0, 86400.0
    users: dict[str, Any] = {}
    serial = iter(range(1, 100_000))

    def add_user(
        n: int,
        user_id: str | None,
        given: str,
        surname: str,
        email: str | None,
        clients: list[dict[str, Any]],
        lines: list[tuple[str, str, float]],
        properties: dict[str, Any],
    ) -> None:
        user: dict[str, Any] = {
            "_id": _hex_id(0xB, n),
            "userId": user_id,
            "givenName": given,
            "surname": surname,
            "email": email,
            "signedUpAt": iso(base - (30 + n * 7) * day),
            "properties": properties,
            "conversationStarted": True,
            "clients": clients,
            "pendingClients": [],
        }
        messages = [_message(next(serial), user, role, text, at) for role, text, at in lines]
        unread = 0
        for msg in messages:
            unread = unread + 1 if msg["role"] == "appMaker" else 0
        user["conversation"] = {
            "_id": _hex_id(0xC, n),
            "unreadCount": unread,
            "messages": messages,
            "activities": [],
        }
        users[user["_id"]] = user

    if with_users:
        add_user(
            1,
            DEMO_ALICE_ID,
            "Alice",
            "Martin",
            "alice@example.com",
            [
                _client(1, "web", True, base - 5 * minute, "Firefox on Linux"),
                _client(2, "messenger", False, base - 3 * day, "Alice Martin"),
            ],
            [
                ("appUser", "Hi! I ordered a blue backpack last week (order #4821).", -50),
                ("appUser", "It still says 'processing'. Has it shipped?", -49),
                ("appMaker", "Hi Alice, sorry for the wait! Let me check that for you.", -40),
                ("appMaker", "It leaves the warehouse today; tracking comes by email.", -35),
                ("appUser", "Great, thanks! Can I still change the delivery address?", -6),
            ],
            {"plan": "plus", "orders": 7},
        )
        bob_lines = []
        for i in range(DEMO_PAGING_MESSAGE_COUNT):
            role, text = _BOB_SCRIPT[i % len(_BOB_SCRIPT)]
            offset = -(hour + (DEMO_PAGING_MESSAGE_COUNT - i) * 20 * minute) / minute
            bob_lines.append((role, f"{text} (#{i + 1})", offset))
        add_user(
            2,
            DEMO_PAGING_USER_ID,
            "Bob",
            "Tremblay",
            "bob@example.com",
            [_client(3, "ios", True, base - 2 * hour, "Bob's iPhone")],
            bob_lines,
            {"plan": "free"},
        )
        add_user(
            3,
            DEMO_ENCODED_USER_ID,
            "Chloé",
            "Dubois",
            "chloe@example.com",
            [_client(4, "telegram", True, base - 30 * minute, "@chloe_d")],
            [
                ("appUser", "Bonjour ! Do you ship to Québec?", -180),
                ("appMaker", "Bonjour Chloé! Yes, 3 to 5 business days to Québec.", -170),
                ("appUser", "Parfait, merci <3 & see you soon", -165),
            ],
            {"vip": True},
        )
        chloe = users[_hex_id(0xB, 3)]
        returns = [
            ("appUser", "Also: the scarf from my last order is the wrong colour.", -90),
            ("appMaker", "Sorry Chloé! I've opened a return; the label comes by email.", -80),
        ]
        chloe["otherConversations"] = [
            {
                "_id": DEMO_SECOND_CONVERSATION_ID,
                "displayName": DEMO_SECOND_CONVERSATION_NAME,
                "unreadCount": 0,
                # Serials of their own: the other demo messages keep their ids.
                "messages": [
                    _message(90_001 + i, chloe, r, t, at) for i, (r, t, at) in enumerate(returns)
                ],
                "activities": [],
            }
        ]
        add_user(
            4,
            None,
            "Dev",
            "Patel",
            None,
            [_client(5, "messenger", True, base - 1 * day, "Dev Patel")],
            [
                ("appUser", "hello? is anyone there", -1500),
                ("appMaker", "Hi Dev, yes! How can I help?", -1490),
                ("appUser", "never mind, found it in the FAQ", -1480),
            ],
            {},
        )
        add_user(
            5,
            DEMO_NO_CLIENTS_USER_ID,
            "David",
            "Okafor",
            "david@example.com",
            [],
            [
                ("appUser", "Can you delete my account please?", -4000),
                ("appMaker", "Done, David. Sorry to see you go.", -3990),
            ],
            {},
        )
        # offsets above are minutes relative to ``base``
        for user in users.values():
            for conv in [user["conversation"], *user.get("otherConversations", [])]:
                for msg in conv["messages"]:
                    msg["received"] = round(base + msg["received"] * minute, 3)
    return {
        "_id": DEMO_APP_ID,
        "name": DEMO_APP_NAME,
        "keys": {DEMO_KEY_ID: DEMO_SECRET},
        "users": users,
    }
