"""Which of a v2 user's conversations a message pushed by a webhook is in.

A v2 webhook names the conversation by id only (``payload.conversation.id``); the list
keys a user's main conversation as "" and each other one by its id, with its name
(docs/architecture.md#conversations). :class:`ConversationPlaces` tells them apart from
``ConversationApi.get_user`` (``AppUser.conversation_id`` is the main one,
``AppUser.conversations`` names them all), remembered per user for the run; the window's
own lookups are handed to it too, so a user the agent opened costs no request.

This module must not hold the webhook's HTTP or parsing (``core/webhook_receiver.py``)
nor the list's rules (``core/inbox.py``); it makes no request itself (the ``get_user`` it
is given does, on the caller's thread).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from smooch_desktop.api.models import AppUser

#: Users whose conversations are remembered (a run rarely sees more writing in).
MAX_USERS_KNOWN: Final = 5000


class ConversationPlaces:
    """Which of a v2 user's conversations a pushed message is in: their main one (the
    list's "" row) or another (its own row, with its name).

    A v2 event names the conversation by id only (``payload.conversation.id``); the user's
    main conversation is the one ``ConversationApi.get_user`` picks (``AppUser.conversation_id``).
    The lookup runs on the caller's thread (the receiver's dispatcher: never the GUI) and
    its answer is remembered for the run; a conversation id the remembered answer does
    not hold (one made since) looks the user up once more. Thread-safe.
    """

    def __init__(self, get_user: Callable[[str], AppUser], *, limit: int = MAX_USERS_KNOWN):
        self._get_user = get_user
        self._limit = limit
        self._lock = threading.Lock()
        #: user ref → (main conversation id, {conversation id: name}).
        self._known: OrderedDict[str, tuple[str, dict[str, str]]] = OrderedDict()
        #: Lookups made (the caller's per-call bound; tests).
        self.lookups = 0

    def remember(self, user_ref: str, user: AppUser) -> None:
        """What a lookup said about ``user_ref``'s conversations (also the window's own)."""
        names = {c.id: c.display_name for c in user.conversations if c.id}
        with self._lock:
            self._known[user_ref] = (user.conversation_id, names)
            self._known.move_to_end(user_ref)
            while len(self._known) > self._limit:
                self._known.popitem(last=False)

    def known(self, user_ref: str, conversation_id: str) -> tuple[bool, str] | None:
        """(main?, name) from what is remembered; None if it says nothing about it."""
        with self._lock:
            found = self._known.get(user_ref)
        if found is None:
            return None
        main, names = found
        if conversation_id == main:
            return True, ""
        if conversation_id in names:
            return False, names[conversation_id]
        return None

    def place(
        self, user_ref: str, conversation_id: str, *, may_look_up: bool = True
    ) -> tuple[bool, str] | None:
        """(main?, name) of ``conversation_id``, looking ``user_ref`` up if need be (and
        ``may_look_up``; else None when nothing is remembered); raises what the lookup
        raises. A conversation the user does not list is not their main one."""
        found = self.known(user_ref, conversation_id)
        if found is not None or not may_look_up:
            return found
        self.lookups += 1
        self.remember(user_ref, self._get_user(user_ref))
        return self.known(user_ref, conversation_id) or (False, "")
