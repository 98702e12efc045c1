"""The conversation: a list model of messages and outbox entries, a bubble delegate, a view.

Built for long histories (10,000 messages and more):

* :class:`ConversationModel` keeps rows sorted with ``bisect`` and finds rows through
  dict indexes; older pages are inserted with ``beginInsertRows`` (never a reset), so the
  view keeps its place; a poll result replaces the local copy of a message this app sent
  (matched by client id), so nothing shows twice.
* :class:`MessageDelegate` wraps text itself, greedily at spaces, with a cache of word
  widths, and paints exactly the lines it measured. Asking Qt to wrap
  (``QFontMetrics.boundingRect`` with ``TextWordWrap``) costs 40-60 µs per 200-character
  message, i.e. the whole 0.5 s budget for 10,000 rows; with cached word widths it is a
  few µs. Words wider than a bubble break between grapheme clusters. Heights are cached
  per (key, state, text, neighbours) and the cache is dropped when the wrap width changes.
* :class:`ConversationView` anchors the viewport on a message across inserts, removals,
  relayouts and resizes, stays pinned to the bottom when it was there, and asks for older
  history once per page when scrolled near the top.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import itertools
import math
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QDateTime,
    QEvent,
    QLocale,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    QTextBoundaryFinder,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QAction,
    QColor,
    QContextMenuEvent,
    QFont,
    QFontMetricsF,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPixmap,
    QResizeEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from smooch_desktop.api.models import ROLE_BUSINESS, ROLE_USER, ROLE_WHISPER, Message
from smooch_desktop.ui.avatars import initials_pixmap, round_pixmap
from smooch_desktop.ui.plain import inline, plain_tooltip, visible_controls

# States ---------------------------------------------------------------------------------
STATE_RECEIVED: Final = "received"
STATE_QUEUED: Final = "queued"
STATE_SENDING: Final = "sending"
STATE_SENT: Final = "sent"
STATE_UNKNOWN: Final = "unknown"
STATE_FAILED: Final = "failed"
STATES: Final = frozenset(
    {STATE_RECEIVED, STATE_QUEUED, STATE_SENDING, STATE_SENT, STATE_UNKNOWN, STATE_FAILED}
)
#: Local items not (yet) confirmed by the server: kept at the bottom, in queue order.
PENDING_STATES: Final = frozenset({STATE_QUEUED, STATE_SENDING, STATE_UNKNOWN, STATE_FAILED})

ItemRole: Final = int(Qt.ItemDataRole.UserRole) + 1

#: Row flags computed by the model from the previous row.
FLAG_STARTS_DAY: Final = 1
FLAG_FIRST_IN_GROUP: Final = 2
#: Consecutive messages of one author closer than this share one avatar and name.
GROUP_GAP_S: Final = 5 * 60

ImageLookup = Callable[[str], "QPixmap | None"]


_DAY_BUCKET_S = 900
_day_cache: dict[int, tuple[int, int]] = {}


def _day(timestamp: float) -> tuple[int, int]:
    """Local (year, day of year) of ``timestamp``.

    Cached per 15-minute bucket: every time zone offset and DST switch in use is a whole
    number of quarter hours, so the local date never changes inside a bucket.
    """
    if timestamp <= 0:
        return (0, 0)
    bucket = int(timestamp // _DAY_BUCKET_S)
    found = _day_cache.get(bucket)
    if found is None:
        if len(_day_cache) > 100_000:
            _day_cache.clear()
        local = time.localtime(bucket * _DAY_BUCKET_S)
        found = _day_cache[bucket] = (local.tm_year, local.tm_yday)
    return found


@contextlib.contextmanager
def bulk_allocation() -> Iterator[None]:
    """Pause the cyclic garbage collector while building thousands of acyclic objects.

    Otherwise it re-scans the whole (growing) heap several times during one history load.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def format_time(timestamp: float) -> str:
    """``HH:MM`` in local time, or "" for an unknown time."""
    return time.strftime("%H:%M", time.localtime(timestamp)) if timestamp > 0 else ""


def format_full_time(timestamp: float) -> str:
    """Date and time in the user's locale, for tooltips."""
    if timestamp <= 0:
        return "time unknown"
    when = QDateTime.fromMSecsSinceEpoch(int(timestamp * 1000))
    return QLocale().toString(when, QLocale.FormatType.LongFormat)


def format_day(timestamp: float, now: float | None = None) -> str:
    """Caption of a day separator: "Today", "Yesterday" or the date in the user's locale."""
    if timestamp <= 0:
        return "Earlier"
    current = time.time() if now is None else now
    day = _day(timestamp)
    if day == _day(current):
        return "Today"
    if day == _day(current - 86400):
        return "Yesterday"
    date = QDateTime.fromMSecsSinceEpoch(int(timestamp * 1000)).date()
    return QLocale().toString(date, QLocale.FormatType.LongFormat)


def _action_label(action: dict[str, Any]) -> str:
    for key in ("text", "label", "title", "payload", "type"):
        value = action.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return "Action"


# Items ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ConversationItem:
    """One row of the conversation: a message from history or a local outbox entry.

    ``key`` is the server message id, or the outbox's client id while not yet sent.
    ``received`` is in Unix seconds (for local items: when it was queued).
    ``state`` is "received" for history, else the outbox state ("queued", "sending",
    "sent", "unknown", "failed"). ``error_text`` is the server's own error text shown
    under a failed bubble. ``next_attempt_at`` (Unix seconds) drives the retry countdown.
    ``author_email`` is optional; it only picks the initials avatar's colour.
    """

    key: str
    role: str = ROLE_USER
    text: str = ""
    author_name: str = ""
    avatar_url: str = ""
    received: float = 0.0
    state: str = STATE_RECEIVED
    error_text: str = ""
    client_id: str = ""
    media_url: str = ""
    media_type: str = ""
    msg_type: str = "text"
    next_attempt_at: float | None = None
    actions: tuple[dict[str, Any], ...] = ()
    author_email: str = ""

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown conversation item state: {self.state!r}")
        if self.state != STATE_RECEIVED and not self.client_id:
            raise ValueError("a local conversation item needs its outbox client_id")

    @classmethod
    def from_message(cls, m: Message) -> ConversationItem:
        """A history row for a server message (its client id comes from the metadata)."""
        role = m.role if m.role in (ROLE_BUSINESS, ROLE_WHISPER) else ROLE_USER
        return cls(
            key=m.id,
            role=role,
            text=m.text,
            author_name=m.author_name,
            avatar_url=m.avatar_url,
            received=m.received,
            client_id=m.client_id,
            media_url=m.media_url,
            media_type=m.media_type,
            msg_type=m.type or "text",
            actions=m.actions,
        )

    @classmethod
    def local(
        cls,
        client_id: str,
        text: str,
        *,
        state: str = STATE_QUEUED,
        queued_at: float | None = None,
        author_name: str = "",
        author_email: str = "",
        avatar_url: str = "",
        error_text: str = "",
        next_attempt_at: float | None = None,
        server_id: str = "",
        msg_type: str = "text",
        media_url: str = "",
        media_type: str = "",
        actions: tuple[dict[str, Any], ...] = (),
    ) -> ConversationItem:
        """A row for an outbox entry sent by this app (always the business side)."""
        return cls(
            key=server_id or client_id,
            role=ROLE_BUSINESS,
            text=text,
            author_name=author_name,
            avatar_url=avatar_url,
            received=time.time() if queued_at is None else queued_at,
            state=state,
            error_text=error_text,
            client_id=client_id,
            media_url=media_url,
            media_type=media_type,
            msg_type=msg_type,
            next_attempt_at=next_attempt_at,
            actions=actions,
            author_email=author_email,
        )

    @property
    def is_local(self) -> bool:
        """A row from the outbox rather than from the server's history."""
        return self.state != STATE_RECEIVED

    @property
    def is_pending(self) -> bool:
        """Not confirmed by the server: kept below the history."""
        return self.state in PENDING_STATES

    @property
    def is_outgoing(self) -> bool:
        """Drawn on the right (business side)."""
        return self.role != ROLE_USER

    @property
    def server_id(self) -> str:
        """The server's message id if known."""
        if self.state == STATE_RECEIVED:
            return self.key
        if self.state == STATE_SENT and self.key != self.client_id:
            return self.key
        return ""

    @property
    def has_image(self) -> bool:
        return self.msg_type == "image" and bool(self.media_url)

    @property
    def display_text(self) -> str:
        """The text as shown in the bubble (a file gets a line with its name)."""
        if self.media_url and not self.has_image:
            name = self.media_url.rsplit("/", 1)[-1].split("?", 1)[0] or self.media_url
            return f"{self.text}\n📎 {name}" if self.text else f"📎 {name}"
        return self.text

    def status_text(self, now: float | None = None) -> str:
        """The state in words, as shown under the bubble ("" for history)."""
        if self.state == STATE_QUEUED:
            current = time.time() if now is None else now
            if self.next_attempt_at is not None and self.next_attempt_at > current:
                seconds = max(1, math.ceil(self.next_attempt_at - current))
                return f"Queued — retrying in {seconds} s"
            return "Queued"
        if self.state == STATE_SENDING:
            return "Sending…"
        if self.state == STATE_UNKNOWN:
            return "Not confirmed yet — checking"
        if self.state == STATE_FAILED:
            return f"Failed: {self.error_text or 'the server gave no reason'}"
        if self.state == STATE_SENT:
            return "Sent"
        return ""


# Model ----------------------------------------------------------------------------------
SortKey = tuple[int, float, int]


def _row_flags(previous: ConversationItem | None, current: ConversationItem) -> int:
    if previous is None or _day(previous.received) != _day(current.received):
        return FLAG_STARTS_DAY | FLAG_FIRST_IN_GROUP
    if (
        previous.role != current.role
        or previous.author_name != current.author_name
        or current.received - previous.received > GROUP_GAP_S
    ):
        return FLAG_FIRST_IN_GROUP
    return 0


class ConversationModel(QAbstractListModel):
    """The rows of one conversation: history sorted by time, then local unsent items.

    Rows are sorted by ``(pending, received, sequence)``: history and sent items by time,
    then items still pending in the outbox in queue order. Every update is a minimal
    insert, remove or ``dataChanged`` (only :meth:`set_messages` and :meth:`clear` reset),
    so a view keeps its scroll position and selection.

    ``has_older`` is set by the owner (from the history page's cursor); the view asks for
    an older page only while it is True.

    Signals:
        hasOlderChanged(bool): ``has_older`` changed; the new value.
    """

    hasOlderChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[ConversationItem] = []
        self._keys: list[SortKey] = []
        self._flags: list[int] = []
        self._by_server: dict[str, SortKey] = {}
        self._by_client: dict[str, SortKey] = {}
        self._seq_high = 0
        self._seq_low = 0
        self._has_older = False

    # Qt model interface -------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemNeverHasChildren
        )

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        row = index.row()
        if not index.isValid() or not 0 <= row < len(self._items):
            return None
        item = self._items[row]
        if role == ItemRole:
            return item
        if role == Qt.ItemDataRole.DisplayRole:
            return item.text
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(item)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self._accessible_text(item)
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        names[ItemRole] = QByteArray(b"item")
        return names

    @staticmethod
    def _author(item: ConversationItem) -> str:
        if item.author_name:
            return item.author_name
        if item.role == ROLE_USER:
            return "User"
        return "Internal note" if item.role == ROLE_WHISPER else "Business"

    def _tooltip(self, item: ConversationItem) -> str:
        lines = [self._author(item), format_full_time(item.received)]
        status = item.status_text()
        if status:
            lines.append(status)
        return plain_tooltip("\n".join(lines))  # names and errors come from outside

    def _accessible_text(self, item: ConversationItem) -> str:
        parts = [f"{self._author(item)}, {format_time(item.received)}: {item.display_text}"]
        if item.has_image:
            parts.append("Image.")
        status = item.status_text()
        if status:
            parts.append(status)
        return " ".join(parts)

    # Public API ---------------------------------------------------------------------------
    @property
    def has_older(self) -> bool:
        """Whether the server has history older than the oldest row (set by the owner)."""
        return self._has_older

    @has_older.setter
    def has_older(self, value: bool) -> None:
        value = bool(value)
        if value != self._has_older:
            self._has_older = value
            self.hasOlderChanged.emit(value)

    def __len__(self) -> int:
        return len(self._items)

    def item(self, row: int) -> ConversationItem:
        """The item in ``row`` (raises IndexError outside 0..len-1)."""
        if row < 0:
            raise IndexError(row)
        return self._items[row]

    def items(self) -> Sequence[ConversationItem]:
        """A snapshot of all rows in display order."""
        return tuple(self._items)

    def entry(self, row: int) -> tuple[ConversationItem, int]:
        """The item in ``row`` and its row flags (one call for the delegate's hot path)."""
        return self._items[row], self._flags[row]

    def row_flags(self, row: int) -> int:
        """``FLAG_STARTS_DAY`` / ``FLAG_FIRST_IN_GROUP`` of ``row``, from its predecessor."""
        return self._flags[row]

    def find_client(self, client_id: str) -> int | None:
        """The row showing the message with this outbox client id (local or from history)."""
        key = self._by_client.get(client_id) if client_id else None
        return None if key is None else self._row_of(key)

    def find_server(self, message_id: str) -> int | None:
        """The row showing the server message ``message_id``."""
        key = self._by_server.get(message_id) if message_id else None
        return None if key is None else self._row_of(key)

    def oldest_received(self) -> float | None:
        """Time of the oldest message from the server's history, for paging; None if none."""
        for item in self._items:
            if item.state == STATE_RECEIVED:
                return item.received
            if item.is_pending:
                break
        return None

    def has_countdowns(self) -> bool:
        """Whether a pending row shows a retry countdown (the view then ticks each second)."""
        for row in range(len(self._items) - 1, -1, -1):
            item = self._items[row]
            if not item.is_pending:
                return False
            if item.next_attempt_at is not None:
                return True
        return False

    def clear(self) -> None:
        """Remove every row and forget ``has_older``."""
        self.beginResetModel()
        self._reset_storage()
        self.endResetModel()
        self.has_older = False

    def set_messages(self, messages: Sequence[Message]) -> None:
        """Replace all rows (local ones too) with a page of history, e.g. after a user switch.

        ``has_older`` is left as it is: the owner sets it from the page's cursor.
        """
        self.beginResetModel()
        with bulk_allocation():
            self._reset_storage()
            batch = self._collect(messages, older=False)
            for key, item in batch:
                self._keys.append(key)
                self._items.append(item)
                self._register(item, key)
            self._flags = [0] * len(self._items)
            self._refresh_flags(0, len(self._items))
        self.endResetModel()

    def prepend_older(self, messages: Sequence[Message]) -> None:
        """Add a page of older history (``beginInsertRows`` at 0, never a reset).

        Messages already shown are skipped; one that is the server copy of a local item
        replaces it. Messages that are not older than every row are inserted in place.
        """
        self._merge(messages, older=True)

    def merge_messages(self, messages: Sequence[Message]) -> None:
        """Merge poll results: known ids are skipped; a message carrying the client id of a
        local item replaces that item (a message sent from this app never shows twice)."""
        self._merge(messages, older=False)

    def upsert_local(self, item: ConversationItem) -> int | None:
        """Insert or update the outbox entry ``item.client_id``; return its row or None.

        Pending states sit at the bottom in queue order. A "sent" item moves into the
        history by time; if the server's copy is already shown (same client id, or the
        same server id), the local item is dropped instead, so it never shows twice.
        """
        if not item.is_local:
            raise ValueError("upsert_local() takes local items; use merge_messages()")
        client_id = item.client_id
        current_key = self._by_client.get(client_id)
        row: int | None = None
        if current_key is not None:
            row = self._row_of(current_key)
            if not self._items[row].is_local:
                return None  # the server's copy is shown already
        server_id = item.server_id
        if server_id:
            shown = self._by_server.get(server_id)
            if shown is not None and shown != current_key:
                if row is not None:
                    self._remove_row(row)
                return None
        if row is None:
            key = self._key_for(item, older=False)
            self._insert_sorted([(key, item)])
            return self._row_of(key)
        old_key = self._keys[row]
        section = 1 if item.is_pending else 0
        if old_key[0] == section and old_key[1] == item.received:
            key = old_key
        else:
            key = self._key_for(item, older=False)
        return self._put(row, item, key)

    def remove_local(self, client_id: str) -> bool:
        """Remove the local row for ``client_id`` (e.g. discarded); True if there was one."""
        key = self._by_client.get(client_id) if client_id else None
        if key is None:
            return False
        row = self._row_of(key)
        if not self._items[row].is_local:
            return False
        self._remove_row(row)
        return True

    # Internals ----------------------------------------------------------------------------
    def _reset_storage(self) -> None:
        self._items = []
        self._keys = []
        self._flags = []
        self._by_server = {}
        self._by_client = {}
        self._seq_high = 0
        self._seq_low = 0

    def _key_for(self, item: ConversationItem, *, older: bool) -> SortKey:
        if older:
            self._seq_low -= 1
            seq = self._seq_low
        else:
            self._seq_high += 1
            seq = self._seq_high
        return (1 if item.is_pending else 0, item.received, seq)

    def _row_of(self, key: SortKey) -> int:
        row = bisect.bisect_left(self._keys, key)
        if row >= len(self._keys) or self._keys[row] != key:
            raise LookupError(f"conversation index out of sync for {key!r}")
        return row

    def _register(self, item: ConversationItem, key: SortKey) -> None:
        server_id = item.server_id
        if server_id:
            self._by_server[server_id] = key
        if item.client_id:
            self._by_client.setdefault(item.client_id, key)

    def _unregister(self, item: ConversationItem, key: SortKey) -> None:
        server_id = item.server_id
        if server_id and self._by_server.get(server_id) == key:
            del self._by_server[server_id]
        if item.client_id and self._by_client.get(item.client_id) == key:
            del self._by_client[item.client_id]

    def _refresh_flags(self, start: int, stop: int) -> list[int]:
        """Recompute row flags in [start, stop); return the rows whose flags changed."""
        changed = []
        items = self._items
        for row in range(max(0, start), min(stop, len(items))):
            flags = _row_flags(items[row - 1] if row > 0 else None, items[row])
            if flags != self._flags[row]:
                self._flags[row] = flags
                changed.append(row)
        return changed

    def _collect(
        self, messages: Iterable[Message], *, older: bool
    ) -> list[tuple[SortKey, ConversationItem]]:
        """Items for ``messages`` not shown yet (used by set_messages on an empty model)."""
        seen: set[str] = set()
        fresh: list[ConversationItem] = []
        for message in messages:
            item = ConversationItem.from_message(message)
            if not item.key or item.key in seen or item.key in self._by_server:
                continue
            seen.add(item.key)
            fresh.append(item)
        return self._keyed(fresh, older=older)

    def _keyed(
        self, items: list[ConversationItem], *, older: bool
    ) -> list[tuple[SortKey, ConversationItem]]:
        # Stable by time: ties keep the page's order; older pages sort before equal times.
        items.sort(key=_received_of)
        if older:
            base = self._seq_low - len(items)
            self._seq_low = base
        else:
            base = self._seq_high + 1
            self._seq_high += len(items)
        return [
            (((1 if it.is_pending else 0), it.received, base + i), it) for i, it in enumerate(items)
        ]

    def _merge(self, messages: Sequence[Message], *, older: bool) -> None:
        seen: set[str] = set()
        fresh: list[ConversationItem] = []
        for message in messages:
            item = ConversationItem.from_message(message)
            if not item.key or item.key in seen:
                continue
            seen.add(item.key)
            local_key = self._by_client.get(item.client_id) if item.client_id else None
            if local_key is not None:
                row = self._row_of(local_key)
                if self._items[row].is_local:
                    shown = self._by_server.get(item.key)
                    if shown is not None and shown != local_key:
                        self._remove_row(row)
                    else:
                        self._put(row, item, self._key_for(item, older=older))
                    continue
            if item.key in self._by_server:
                continue
            fresh.append(item)
        if fresh:
            self._insert_sorted(self._keyed(fresh, older=older))

    def _insert_sorted(self, batch: list[tuple[SortKey, ConversationItem]]) -> None:
        """Insert a key-sorted batch with one beginInsertRows per contiguous run."""
        runs: list[tuple[int, list[tuple[SortKey, ConversationItem]]]] = []
        for entry in batch:
            position = bisect.bisect_left(self._keys, entry[0])
            if runs and runs[-1][0] == position:
                runs[-1][1].append(entry)
            else:
                runs.append((position, [entry]))
        root = QModelIndex()
        for position, run in reversed(runs):
            count = len(run)
            self.beginInsertRows(root, position, position + count - 1)
            self._keys[position:position] = [key for key, _ in run]
            self._items[position:position] = [item for _, item in run]
            self._flags[position:position] = [0] * count
            for key, item in run:
                self._register(item, key)
            self._refresh_flags(position, position + count + 1)
            self.endInsertRows()

    def _remove_row(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)
        item = self._items.pop(row)
        key = self._keys.pop(row)
        self._flags.pop(row)
        self._unregister(item, key)
        self._refresh_flags(row, row + 1)
        self.endRemoveRows()

    def _put(self, row: int, item: ConversationItem, key: SortKey) -> int:
        """Show ``item`` instead of the one in ``row``; in place when the order allows."""
        before_ok = row == 0 or self._keys[row - 1] < key
        after_ok = row + 1 >= len(self._keys) or key < self._keys[row + 1]
        if not (before_ok and after_ok):
            self._remove_row(row)
            self._insert_sorted([(key, item)])
            return self._row_of(key)
        self._unregister(self._items[row], self._keys[row])
        self._items[row] = item
        self._keys[row] = key
        self._register(item, key)
        changed = self._refresh_flags(row, row + 2)
        last = max([row, *changed])
        self.dataChanged.emit(self.index(row), self.index(last))
        return row


def _received_of(item: ConversationItem) -> float:
    return item.received


# Text wrapping --------------------------------------------------------------------------
_WORD_CACHE_MAX: Final = 60_000

Line = tuple[str, float, bool]  # text, width in px, right-to-left paragraph


def _is_rtl(paragraph: str) -> bool:
    bidirectional = unicodedata.bidirectional
    for char in paragraph:
        kind = bidirectional(char)
        if kind == "L":
            return False
        if kind in ("R", "AL"):
            return True
    return False


def _graphemes(text: str) -> list[str]:
    """Split ``text`` into grapheme clusters (an emoji sequence stays whole)."""
    finder = QTextBoundaryFinder(QTextBoundaryFinder.BoundaryType.Grapheme, text)
    by_utf16: dict[int, int] = {}
    offset = 0
    for index, char in enumerate(text):
        by_utf16[offset] = index
        offset += 2 if ord(char) > 0xFFFF else 1
    by_utf16[offset] = len(text)
    clusters: list[str] = []
    start = 0
    while True:
        boundary = finder.toNextBoundary()
        if boundary < 0:
            break
        end = by_utf16.get(boundary)
        if end is not None and end > start:
            clusters.append(text[start:end])
            start = end
    if start < len(text):
        clusters.append(text[start:])
    return clusters


class TextWrapper:
    """Greedy word wrap with cached word widths; measuring and painting share the lines.

    Lines break at spaces and newlines; a word wider than the line breaks between
    grapheme clusters. Each paragraph keeps its own direction (for right-to-left text).
    Line ends are found with prefix sums and ``bisect`` over cached word advances, so
    wrapping a long message costs a few C-level passes rather than a Python loop per word.
    """

    def __init__(self, font: QFont) -> None:
        self.font = QFont(font)
        self.metrics = QFontMetricsF(self.font)
        self.line_height = math.ceil(self.metrics.lineSpacing())
        self.average_char_width = max(1.0, self.metrics.averageCharWidth())
        self._space = self.metrics.horizontalAdvance(" ")
        self._widths: dict[str, float] = {}
        self._advances: dict[str, float] = {}  # word -> width + one space

    def width(self, text: str) -> float:
        """Advance width of ``text`` on one line (cached)."""
        found = self._widths.get(text)
        if found is None:
            if len(self._widths) >= _WORD_CACHE_MAX:
                self._widths.clear()
            found = self._widths[text] = self.metrics.horizontalAdvance(text)
        return found

    def _learn(self, words: list[str]) -> None:
        """Cache the advance (width + one space) of every word in ``words`` not known yet."""
        missing = set(words).difference(self._advances)
        if len(self._advances) + len(missing) > _WORD_CACHE_MAX:
            self._advances.clear()
            missing = set(words)
        measure = self.metrics.horizontalAdvance
        space = self._space
        for word in missing:
            self._advances[word] = measure(word) + space

    @staticmethod
    def _paragraphs(text: str) -> list[str]:
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if "\t" in text:
            text = text.replace("\t", "    ")
        return text.split("\n")

    def _spans(self, words: list[str], limit: float) -> list[tuple[int, int, float]] | None:
        """``(first word, end word, width)`` per line; None if a word is wider than a line."""
        found = list(map(self._advances.get, words))
        if None in found:
            self._learn(words)
            found = list(map(self._advances.get, words))
        values = cast(list[float], found)
        space = self._space
        bound = limit + space
        total = sum(values)
        if total <= bound:
            return [(0, len(words), total - space)]  # short paragraph: one line
        if max(values) > bound:
            return None
        prefix = list(itertools.accumulate(values, initial=0.0))
        spans: list[tuple[int, int, float]] = []
        start, count = 0, len(words)
        find = bisect.bisect_right
        while start < count:
            end = find(prefix, prefix[start] + bound, start + 1) - 1
            if end <= start:
                end = start + 1
            spans.append((start, end, prefix[end] - prefix[start] - space))
            start = end
        return spans

    def _split_long(self, word: str, limit: float) -> list[tuple[str, float]]:
        pieces: list[tuple[str, float]] = []
        current, current_width = "", 0.0
        for cluster in _graphemes(word):
            cluster_width = self.width(cluster)
            if current and current_width + cluster_width > limit:
                pieces.append((current, current_width))
                current, current_width = cluster, cluster_width
            else:
                current += cluster
                current_width += cluster_width
        if current:
            pieces.append((current, current_width))
        return pieces

    def _slow_lines(self, words: list[str], limit: float) -> list[tuple[str, float]]:
        """Greedy wrap of a paragraph that has a word wider than the line."""
        lines: list[tuple[str, float]] = []
        space = self._space
        current: list[str] = []
        x = -1.0
        for word in words:
            width = self.width(word)
            if width > limit:
                if x >= 0:
                    lines.append((" ".join(current), x))
                pieces = self._split_long(word, limit)
                lines.extend(pieces[:-1])
                last, x = pieces[-1]
                current = [last]
            elif x < 0:
                current, x = [word], width
            elif x + space + width <= limit:
                current.append(word)
                x += space + width
            else:
                lines.append((" ".join(current), x))
                current, x = [word], width
        lines.append((" ".join(current), max(x, 0.0)))
        return lines

    def measure(self, text: str, limit: float) -> tuple[int, float]:
        """Number of lines and widest line of ``text`` wrapped to ``limit`` pixels."""
        count, widest = 0, 0.0
        for paragraph in self._paragraphs(text):
            words = paragraph.split(" ")
            spans = self._spans(words, limit)
            if spans is None:
                lines = self._slow_lines(words, limit)
                count += len(lines)
                widest = max(widest, max(width for _, width in lines))
            else:
                count += len(spans)
                widest = max(widest, max(width for _, _, width in spans))
        return count, widest

    def wrap(self, text: str, limit: float) -> list[Line]:
        """The lines of ``text`` wrapped to ``limit`` pixels (what :meth:`measure` counts)."""
        lines: list[Line] = []
        for paragraph in self._paragraphs(text):
            rtl = _is_rtl(paragraph)
            words = paragraph.split(" ")
            spans = self._spans(words, limit)
            if spans is None:
                lines.extend((line, width, rtl) for line, width in self._slow_lines(words, limit))
            else:
                join = " ".join
                lines.extend((join(words[a:b]), width, rtl) for a, b, width in spans)
        return lines


# Delegate -------------------------------------------------------------------------------
AVATAR_SIZE: Final = 32
#: The business bubble colour (white text on it meets WCAG AA).
ACCENT_COLOR: Final = QColor(0x25, 0x63, 0xEB)

_MARGIN = 12  # between the viewport edge and the avatar
_AVATAR_GAP = 8  # between avatar and bubble
_PAD_X = 12
_PAD_Y = 8
_RADIUS = 16.0
_MAX_TEXT_WIDTH = 520
_BUBBLE_SHARE = 0.78  # of the row width left after margin and avatar
_MIN_TEXT_WIDTH = 60
_IMAGE_MAX = 240
_IMAGE_PLACEHOLDER = (240, 160)
_IMAGE_INSET = 4
_ROW_GAP = 3  # below every row
_GROUP_GAP = 8  # above the first row of a group
_SEPARATOR_HEIGHT = 36
_META_GAP = 2
_PILL_GAP = 6
_PILL_PAD_X = 10
_LINK_GAP = 16
_SHAPE_CACHE = 400
_SIZE_CACHE_MAX = 200_000
_PIXMAP_CACHE = 300


@dataclass(slots=True)
class _Colors:
    user_bubble: QColor
    user_text: QColor
    business_bubble: QColor
    business_text: QColor
    whisper_bubble: QColor
    whisper_text: QColor
    meta: QColor
    error: QColor
    separator: QColor
    placeholder: QColor
    selection: QColor
    link: QColor

    @classmethod
    def from_palette(cls, palette: QPalette, accent: QColor) -> _Colors:
        base = palette.color(QPalette.ColorRole.Base)
        dark = base.lightness() < 128
        selection = QColor(palette.color(QPalette.ColorRole.Highlight))
        selection.setAlpha(48)
        if dark:
            return cls(
                user_bubble=QColor(0x2D, 0x31, 0x38),
                user_text=QColor(0xE8, 0xEA, 0xED),
                business_bubble=QColor(accent),
                business_text=QColor(255, 255, 255),
                whisper_bubble=QColor(0x4A, 0x42, 0x1E),
                whisper_text=QColor(0xFF, 0xF1, 0xC2),
                meta=QColor(0x9A, 0xA0, 0xA6),
                error=QColor(0xFF, 0x7B, 0x72),
                separator=QColor(0x2D, 0x31, 0x38),
                placeholder=QColor(0x9A, 0xA0, 0xA6),
                selection=selection,
                link=QColor(0x79, 0xA7, 0xFF),
            )
        return cls(
            user_bubble=QColor(0xEE, 0xF0, 0xF3),
            user_text=QColor(0x1B, 0x1F, 0x24),
            business_bubble=QColor(accent),
            business_text=QColor(255, 255, 255),
            whisper_bubble=QColor(0xFF, 0xF4, 0xCE),
            whisper_text=QColor(0x3D, 0x32, 0x00),
            meta=QColor(0x6B, 0x72, 0x80),
            error=QColor(0xC6, 0x28, 0x28),
            separator=QColor(0xEE, 0xF0, 0xF3),
            placeholder=QColor(0x6B, 0x72, 0x80),
            selection=selection,
            link=QColor(accent),
        )


@dataclass(slots=True)
class _Shape:
    """Vertical layout of one row for one wrap width; x positions depend on the row rect."""

    height: int
    lines: list[Line]
    bubble_width: int
    bubble_top: int
    bubble_height: int
    name_top: int  # -1: no name line
    image: tuple[int, int] | None  # displayed size; None: no image
    pill_rows: list[list[tuple[str, float]]]
    pills_top: int
    meta_top: int
    error_lines: list[Line]
    error_top: int
    links: list[tuple[str, str, float]]  # (name, label, width)
    links_top: int


class MessageDelegate(QStyledItemDelegate):
    """Paints chat bubbles; measures text with :class:`TextWrapper`; caches row heights.

    The end user's messages are on the left in a light bubble, the business's on the
    right in the accent colour with the sender's name above; 32 px round avatars, the
    time under each bubble and the outbox state of local items ("Sending…", "Failed:
    <server error>" with Retry and Edit links). ``image_lookup(url)`` returns a loaded
    pixmap or None (the caller then fetches it and calls ``view.refresh_images()``).

    Heights are cached per (key, state, text, error, neighbour flags, image size) for the
    current wrap width; :meth:`set_layout_width` drops the cache when the width changes.
    """

    def __init__(
        self, image_lookup: ImageLookup | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._image_lookup = image_lookup
        self._model: ConversationModel | None = None
        self._layout_width = 600
        self._text_limit = self._compute_text_limit(600)
        self._heights: dict[tuple[Any, ...], int] = {}
        self._sizes: dict[int, tuple[ConversationItem, int, QSize]] = {}
        self._shapes: OrderedDict[tuple[Any, ...], _Shape] = OrderedDict()
        self._pixmaps: OrderedDict[tuple[Any, ...], QPixmap] = OrderedDict()
        self._image_sizes: dict[str, tuple[int, int] | None] = {}
        #: Set by the view around a layout that may estimate rows not measured yet.
        self.estimating = False
        self._estimated = 0
        self.accent = QColor(ACCENT_COLOR)
        self._colors = _Colors.from_palette(QGuiApplication.palette(), self.accent)
        self._set_fonts(QGuiApplication.font())

    # Configuration ------------------------------------------------------------------------
    def bind_model(self, model: ConversationModel | None) -> None:
        """Read items straight from ``model`` (much faster than going through QVariant)."""
        self._model = model
        self.invalidate()

    def set_image_lookup(self, lookup: ImageLookup | None) -> None:
        self._image_lookup = lookup
        self.invalidate()

    def set_base_font(self, font: QFont) -> None:
        """Use ``font`` for message text (smaller variants are derived); drops caches."""
        self._set_fonts(font)
        self.invalidate()

    def set_palette(self, palette: QPalette) -> None:
        self._colors = _Colors.from_palette(palette, self.accent)

    @property
    def colors(self) -> _Colors:
        return self._colors

    def set_layout_width(self, width: int) -> bool:
        """Set the row width text is wrapped for; True if cached heights were dropped."""
        width = max(1, int(width))
        if width == self._layout_width:
            return False
        self._layout_width = width
        limit = self._compute_text_limit(width)
        if limit == self._text_limit:
            return False  # wide windows: bubbles are capped, nothing to re-wrap
        self._text_limit = limit
        self._heights.clear()
        self._sizes.clear()
        self._shapes.clear()
        return True

    @classmethod
    def text_limit_for(cls, width: int) -> int:
        """The text limit :meth:`set_layout_width` would use for ``width``."""
        return cls._compute_text_limit(max(1, int(width)))

    @property
    def text_limit(self) -> int:
        """Maximum width of text inside a bubble for the current layout width."""
        return self._text_limit

    def invalidate(self) -> None:
        """Forget all cached heights and shapes (fonts or lookup changed)."""
        self._heights.clear()
        self._sizes.clear()
        self._shapes.clear()
        self._image_sizes.clear()

    def image_sizes_changed(self) -> bool:
        """Whether an image that was measured has loaded (or changed size) since."""
        changed = False
        for url, used in list(self._image_sizes.items()):
            now = self._image_size(url)
            if now != used:
                changed = True
                self._image_sizes[url] = now
        # The displayed image size is part of the cache keys: nothing else to drop.
        return changed

    def _set_fonts(self, font: QFont) -> None:
        self._body = TextWrapper(font)
        small = QFont(font)
        size = font.pointSizeF()
        if size > 0:
            small.setPointSizeF(max(6.0, size * 0.85))
        else:
            small.setPixelSize(max(8, round(font.pixelSize() * 0.85)))
        self._small = TextWrapper(small)
        name_font = QFont(small)
        name_font.setWeight(QFont.Weight.DemiBold)
        self._name = TextWrapper(name_font)
        self._link = TextWrapper(name_font)
        separator_font = QFont(small)
        separator_font.setWeight(QFont.Weight.DemiBold)
        self._separator_font = separator_font

    @staticmethod
    def _compute_text_limit(width: int) -> int:
        room = width - 2 * _MARGIN - AVATAR_SIZE - _AVATAR_GAP
        return max(_MIN_TEXT_WIDTH, min(_MAX_TEXT_WIDTH, int(room * _BUBBLE_SHARE) - 2 * _PAD_X))

    # Measuring ----------------------------------------------------------------------------
    def _item_and_flags(
        self, index: QModelIndex | QPersistentModelIndex
    ) -> tuple[ConversationItem | None, int]:
        model = self._model
        row = index.row()
        if model is not None and row >= 0 and index.model() is model:
            try:
                return model.entry(row)
            except IndexError:
                return None, 0
        item = index.data(ItemRole)
        if isinstance(item, ConversationItem):
            return item, FLAG_STARTS_DAY | FLAG_FIRST_IN_GROUP
        return None, 0

    @staticmethod
    def _natural_size(pixmap: QPixmap | None) -> tuple[int, int] | None:
        if pixmap is None or pixmap.isNull():
            return None
        dpr = pixmap.devicePixelRatio() or 1.0
        return (max(1, round(pixmap.width() / dpr)), max(1, round(pixmap.height() / dpr)))

    def _image_size(self, url: str) -> tuple[int, int] | None:
        return self._natural_size(
            self._image_lookup(url) if self._image_lookup is not None else None
        )

    def _displayed_image(self, item: ConversationItem) -> tuple[int, int] | None:
        if not item.has_image:
            return None
        # Only what painting has seen: measuring never asks for (and so never fetches)
        # the images of the thousands of rows nobody looks at.
        natural = self._image_sizes.get(item.media_url)
        box = min(_IMAGE_MAX, self._text_limit + 2 * _PAD_X - 2 * _IMAGE_INSET)
        if natural is None:
            width, height = _IMAGE_PLACEHOLDER
            scale = min(1.0, box / width)
            return (round(width * scale), round(height * scale))
        width, height = natural
        scale = min(1.0, box / width, box / height)
        return (max(1, round(width * scale)), max(1, round(height * scale)))

    def _cache_key(self, item: ConversationItem, flags: int) -> tuple[Any, ...]:
        return (
            item.key,
            item.state,
            item.text,
            item.error_text,
            item.author_name,
            flags,
            len(item.actions),
            self._displayed_image(item) if item.msg_type == "image" else None,
        )

    def shape_for(self, item: ConversationItem, flags: int) -> _Shape:
        """The (cached) vertical layout of ``item`` at the current wrap width."""
        key = self._cache_key(item, flags)
        shape = self._shapes.get(key)
        if shape is not None:
            self._shapes.move_to_end(key)
            return shape
        shape = self._compute_shape(item, flags, with_lines=True)
        self._shapes[key] = shape
        self._heights[key] = shape.height
        if len(self._shapes) > _SHAPE_CACHE:
            self._shapes.popitem(last=False)
        return shape

    def height_for(self, item: ConversationItem, flags: int) -> int:
        """Row height of ``item`` at the current wrap width (cached).

        While :attr:`estimating` is set, a row not measured yet gets an estimate from its
        length instead (not cached); :meth:`take_estimated_count` tells how many did.
        """
        key = self._cache_key(item, flags)
        height = self._heights.get(key)
        if height is None:
            if self.estimating:
                self._estimated += 1
                return self._compute_shape(item, flags, with_lines=False, estimate=True).height
            height = self._heights[key] = self._compute_shape(item, flags, with_lines=False).height
        return height

    def is_measured(self, item: ConversationItem, flags: int) -> bool:
        """Whether the exact height of ``item`` is cached for the current wrap width."""
        return self._cache_key(item, flags) in self._heights

    def take_estimated_count(self) -> int:
        """How many heights were estimated since the last call (and reset the count)."""
        count, self._estimated = self._estimated, 0
        return count

    def _estimate_lines(self, text: str, limit: int) -> int:
        # Wrapping leaves on average part of a word free at each line end.
        per_line = max(1.0, limit * 0.9 / self._body.average_char_width)
        return max(text.count("\n") + 1, math.ceil(len(text) / per_line))

    def _compute_shape(
        self, item: ConversationItem, flags: int, *, with_lines: bool, estimate: bool = False
    ) -> _Shape:
        limit = self._text_limit
        bubble_limit = limit + 2 * _PAD_X
        y = _GROUP_GAP if flags & FLAG_FIRST_IN_GROUP else 0
        if flags & FLAG_STARTS_DAY:
            y += _SEPARATOR_HEIGHT
        name_top = -1
        if flags & FLAG_FIRST_IN_GROUP and item.is_outgoing and self._name_text(item):
            name_top = y
            y += self._name.line_height + 2
        # Control characters from the sender are shown by name ([NUL]), never as nothing.
        text = visible_controls(item.display_text if item.media_url else item.text)
        lines: list[Line] = []
        if not text:
            count, text_width = 0, 0.0
        elif estimate:
            count, text_width = self._estimate_lines(text, limit), float(limit)
        elif with_lines:
            lines = self._body.wrap(text, limit)
            count, text_width = len(lines), max(width for _, width, _ in lines)
        else:
            count, text_width = self._body.measure(text, limit)
        image = self._displayed_image(item) if item.msg_type == "image" else None
        bubble_width = math.ceil(text_width) + 2 * _PAD_X + 2
        line_height = self._body.line_height
        if image is not None:
            bubble_width = max(bubble_width if count else 0, image[0] + 2 * _IMAGE_INSET)
            bubble_height = _IMAGE_INSET + image[1]
            if count:
                bubble_height += _PAD_Y - 2 + count * line_height + _PAD_Y
            else:
                bubble_height += _IMAGE_INSET
        else:
            bubble_height = 2 * _PAD_Y + max(1, count) * line_height
        bubble_width = max(bubble_width, int(2 * _RADIUS) + 4)
        bubble_top = y
        y += bubble_height
        pill_rows: list[list[tuple[str, float]]] = []
        pills_top = y
        if item.actions:
            y += _PILL_GAP
            pills_top = y
            row: list[tuple[str, float]] = []
            x = 0.0
            for action in item.actions:
                label = inline(_action_label(action), one_line=True)
                width = self._small.width(label) + 2 * _PILL_PAD_X
                if width > bubble_limit:  # a long label is elided, never wider than a bubble
                    room = bubble_limit - 2 * _PILL_PAD_X
                    label = self._small.metrics.elidedText(label, Qt.TextElideMode.ElideRight, room)
                    width = float(bubble_limit)
                if row and x + _PILL_GAP + width > bubble_limit:
                    pill_rows.append(row)
                    row, x = [], 0.0
                x += (_PILL_GAP if row else 0) + width
                row.append((label, width))
            pill_rows.append(row)
            pill_height = self._small.line_height + 8
            y += len(pill_rows) * pill_height + (len(pill_rows) - 1) * 4
        y += _META_GAP
        meta_top = y
        y += self._small.line_height
        error_lines: list[Line] = []
        error_top = y
        links: list[tuple[str, str]] = []
        links_top = y
        if item.state == STATE_FAILED:
            error_lines = self._small.wrap(item.status_text(), bubble_limit)
            y += len(error_lines) * self._small.line_height
            links = [("retry", "Retry"), ("edit", "Edit")]
        elif item.state == STATE_QUEUED and item.next_attempt_at is not None:
            links = [("send_now", "Send now")]
        measured_links = [(name, label, self._link.width(label)) for name, label in links]
        if measured_links:
            links_top = y + 1
            y += self._link.line_height + 4
        y += _ROW_GAP
        return _Shape(
            height=max(y, AVATAR_SIZE + _ROW_GAP),
            lines=lines,
            bubble_width=min(max(bubble_width, 1), bubble_limit + 2),
            bubble_top=bubble_top,
            bubble_height=bubble_height,
            name_top=name_top,
            image=image,
            pill_rows=pill_rows,
            pills_top=pills_top,
            meta_top=meta_top,
            error_lines=error_lines,
            error_top=error_top,
            links=measured_links,
            links_top=links_top,
        )

    @staticmethod
    def _name_text(item: ConversationItem) -> str:
        if item.role == ROLE_WHISPER:
            return f"Internal note · {item.author_name}" if item.author_name else "Internal note"
        return item.author_name

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        # Hot path (every row on every layout): read the bound model directly.
        model = self._model
        if model is not None and index.model() is model:
            try:
                item, flags = model.entry(index.row())
            except IndexError:
                return QSize(1, 1)
        else:
            found, flags = self._item_and_flags(index)
            if found is None:
                return QSize(1, 1)
            item = found
        return self.size_for(item, flags)

    def size_for(self, item: ConversationItem, flags: int) -> QSize:
        """The size hint of a row showing ``item`` (cached; an estimate while estimating)."""
        # Items are immutable, so (the same object, same flags) means the same size; the
        # entry keeps the item alive, so its id() cannot be reused while cached.
        hit = self._sizes.get(id(item))
        if hit is not None and hit[0] is item and hit[1] == flags:
            return hit[2]
        key = self._cache_key(item, flags)
        height = self._heights.get(key)
        if height is None:
            if self.estimating:
                return QSize(1, self.height_for(item, flags))  # an estimate: not kept
            height = self.height_for(item, flags)
        # Width 1: the list view stretches rows to the viewport, and a wide hint would
        # only bring up a horizontal scroll bar.
        size = QSize(1, height)
        if not item.has_image:  # an image's size may still change when it loads
            if len(self._sizes) >= _SIZE_CACHE_MAX:
                self._sizes.clear()
            self._sizes[id(item)] = (item, flags, size)
        return size

    # Geometry shared by painting and hit testing -----------------------------------------
    def _bubble_rect(self, rect: QRect, item: ConversationItem, shape: _Shape) -> QRectF:
        if item.is_outgoing:
            right = rect.x() + rect.width() - _MARGIN - AVATAR_SIZE - _AVATAR_GAP
            left = right - shape.bubble_width
        else:
            left = rect.x() + _MARGIN + AVATAR_SIZE + _AVATAR_GAP
        return QRectF(left, rect.y() + shape.bubble_top, shape.bubble_width, shape.bubble_height)

    def link_rects(self, rect: QRect, item: ConversationItem, flags: int) -> dict[str, QRectF]:
        """Clickable areas ("retry", "edit", "send_now") of a row drawn in ``rect``."""
        return self._link_areas(rect, item, self.shape_for(item, flags))

    def _link_areas(self, rect: QRect, item: ConversationItem, shape: _Shape) -> dict[str, QRectF]:
        if not shape.links:
            return {}
        bubble = self._bubble_rect(rect, item, shape)
        total = sum(width for _, _, width in shape.links) + _LINK_GAP * (len(shape.links) - 1)
        x = bubble.right() - total if item.is_outgoing else bubble.left()
        height = self._link.line_height + 4
        top = rect.y() + shape.links_top - 2
        found: dict[str, QRectF] = {}
        for name, _label, width in shape.links:
            found[name] = QRectF(x - 4, top, width + 8, height)
            x += width + _LINK_GAP
        return found

    # Painting -----------------------------------------------------------------------------
    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        item, flags = self._item_and_flags(index)
        if item is None:
            return
        rect = QRect(option.rect)
        shape = self.shape_for(item, flags)
        colors = self._colors
        widget = option.widget
        dpr = (
            widget.devicePixelRatioF()
            if widget is not None
            else painter.device().devicePixelRatioF()
        )
        painter.save()
        try:
            # A row laid out with an estimated height must not paint over its neighbours.
            painter.setClipRect(rect, Qt.ClipOperation.IntersectClip)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            if option.state & QStyle.StateFlag.State_Selected:
                painter.fillRect(rect, colors.selection)
            if flags & FLAG_STARTS_DAY:
                self._paint_separator(painter, rect, item, flags)
            bubble = self._bubble_rect(rect, item, shape)
            if shape.name_top >= 0:
                self._paint_name(painter, rect, item, shape, bubble)
            if flags & FLAG_FIRST_IN_GROUP:
                self._paint_avatar(painter, rect, item, bubble, dpr)
            self._paint_bubble(painter, item, shape, bubble, dpr, index)
            if shape.pill_rows:
                self._paint_pills(painter, rect, item, shape, bubble)
            self._paint_meta(painter, rect, item, shape, bubble)
        finally:
            painter.restore()

    def _paint_separator(
        self, painter: QPainter, rect: QRect, item: ConversationItem, flags: int
    ) -> None:
        caption = format_day(item.received)
        painter.setFont(self._separator_font)
        metrics = QFontMetricsF(self._separator_font)
        width = metrics.horizontalAdvance(caption) + 24
        height = metrics.height() + 8
        top = rect.y() + (_GROUP_GAP if flags & FLAG_FIRST_IN_GROUP else 0)
        pill = QRectF(
            rect.x() + (rect.width() - width) / 2,
            top + (_SEPARATOR_HEIGHT - height) / 2,
            width,
            height,
        )
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self._colors.separator)
        painter.drawRoundedRect(pill, height / 2, height / 2)
        painter.setPen(self._colors.meta)
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, caption)

    def _paint_name(
        self, painter: QPainter, rect: QRect, item: ConversationItem, shape: _Shape, bubble: QRectF
    ) -> None:
        name = inline(self._name_text(item), one_line=True)
        painter.setFont(self._name.font)
        painter.setPen(self._colors.meta)
        box = QRectF(
            bubble.left() - 200,
            rect.y() + shape.name_top,
            bubble.width() + 400,
            self._name.line_height,
        )
        if item.is_outgoing:
            box.setRight(bubble.right() - 4)
            align = Qt.AlignmentFlag.AlignRight
        else:
            box.setLeft(bubble.left() + 4)
            align = Qt.AlignmentFlag.AlignLeft
        room = min(box.width(), rect.width() - 2.0 * _MARGIN)
        # Elided; the tooltip has the whole name.
        name = self._name.metrics.elidedText(name, Qt.TextElideMode.ElideRight, room)
        painter.drawText(
            box, align | Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignAbsolute, name
        )

    def _paint_avatar(
        self, painter: QPainter, rect: QRect, item: ConversationItem, bubble: QRectF, dpr: float
    ) -> None:
        if item.is_outgoing:
            x = rect.x() + rect.width() - _MARGIN - AVATAR_SIZE
        else:
            x = rect.x() + _MARGIN
        target = QRectF(x, bubble.top(), AVATAR_SIZE, AVATAR_SIZE)
        pixmap = self._avatar_pixmap(item, dpr)
        painter.drawPixmap(target.topLeft(), pixmap)

    def _cached_pixmap(self, key: tuple[Any, ...]) -> QPixmap | None:
        found = self._pixmaps.get(key)
        if found is not None:
            self._pixmaps.move_to_end(key)
        return found

    def _store_pixmap(self, key: tuple[Any, ...], pixmap: QPixmap) -> QPixmap:
        self._pixmaps[key] = pixmap
        if len(self._pixmaps) > _PIXMAP_CACHE:
            self._pixmaps.popitem(last=False)
        return pixmap

    def _avatar_pixmap(self, item: ConversationItem, dpr: float) -> QPixmap:
        source = None
        if item.avatar_url and self._image_lookup is not None:
            source = self._image_lookup(item.avatar_url)
        if source is not None and not source.isNull():
            key: tuple[Any, ...] = ("round", source.cacheKey(), dpr)
            found = self._cached_pixmap(key)
            return (
                found
                if found is not None
                else self._store_pixmap(key, round_pixmap(source, AVATAR_SIZE, dpr))
            )
        name = item.author_name or ("User" if item.role == ROLE_USER else "Business")
        key = ("initials", name, item.author_email, dpr)
        found = self._cached_pixmap(key)
        if found is not None:
            return found
        return self._store_pixmap(key, initials_pixmap(AVATAR_SIZE, name, item.author_email, dpr))

    def _bubble_colors(self, item: ConversationItem) -> tuple[QColor, QColor]:
        colors = self._colors
        if item.role == ROLE_WHISPER:
            return colors.whisper_bubble, colors.whisper_text
        if item.role == ROLE_USER:
            return colors.user_bubble, colors.user_text
        if item.state == STATE_FAILED:
            faded = QColor(colors.business_bubble)
            faded.setAlpha(150)
            return faded, colors.business_text
        return colors.business_bubble, colors.business_text

    def _paint_bubble(
        self,
        painter: QPainter,
        item: ConversationItem,
        shape: _Shape,
        bubble: QRectF,
        dpr: float,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        fill, ink = self._bubble_colors(item)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(bubble, _RADIUS, _RADIUS)
        if item.state == STATE_FAILED:
            self._paint_failed_badge(painter, item, bubble)
        y: float = bubble.top() + _PAD_Y
        if shape.image is not None:
            image_width, image_height = shape.image
            target = QRectF(
                bubble.left() + _IMAGE_INSET, bubble.top() + _IMAGE_INSET, image_width, image_height
            )
            self._paint_image(painter, item, target, dpr, index)
            y = target.bottom() + _PAD_Y - 2
        if not shape.lines:
            return
        painter.setFont(self._body.font)
        painter.setPen(ink)
        line_height = float(self._body.line_height)
        left = bubble.left() + _PAD_X
        width = bubble.width() - 2 * _PAD_X
        for text, _width, rtl in shape.lines:
            if text:
                box = QRectF(left, y, width, line_height)
                if rtl:
                    painter.setLayoutDirection(Qt.LayoutDirection.RightToLeft)
                    align = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignAbsolute
                else:
                    painter.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
                    align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignAbsolute
                painter.drawText(
                    box, align | Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextSingleLine, text
                )
            y += line_height

    def _paint_failed_badge(
        self, painter: QPainter, item: ConversationItem, bubble: QRectF
    ) -> None:
        """A red "!" beside a bubble that was not delivered."""
        size = 18.0
        x = bubble.left() - size - 6 if item.is_outgoing else bubble.right() + 6
        badge = QRectF(x, bubble.center().y() - size / 2, size, size)
        painter.setBrush(self._colors.error)
        painter.drawEllipse(badge)
        font = QFont(self._name.font)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "!")
        painter.setPen(Qt.PenStyle.NoPen)

    def _paint_image(
        self,
        painter: QPainter,
        item: ConversationItem,
        target: QRectF,
        dpr: float,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        url = item.media_url
        source = self._image_lookup(url) if self._image_lookup is not None else None
        natural = self._natural_size(source)
        if url not in self._image_sizes or self._image_sizes[url] != natural:
            self._image_sizes[url] = natural
            if natural is not None:  # e.g. already in the loader's cache: lay out again
                model = index.model()
                if model is not None:
                    self.sizeHintChanged.emit(model.index(index.row(), index.column()))
        path = QPainterPath()
        path.addRoundedRect(target, _RADIUS - _IMAGE_INSET, _RADIUS - _IMAGE_INSET)
        if source is None or source.isNull():
            placeholder = QColor(self._colors.meta)
            placeholder.setAlpha(60)
            painter.fillPath(path, placeholder)
            painter.setPen(self._colors.meta)
            painter.setFont(self._small.font)
            painter.drawText(target, Qt.AlignmentFlag.AlignCenter, "Loading image…")
            return
        key = ("image", source.cacheKey(), round(target.width()), round(target.height()), dpr)
        scaled = self._cached_pixmap(key)
        if scaled is None:
            scaled = source.scaled(
                QSize(math.ceil(target.width() * dpr), math.ceil(target.height() * dpr)),
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            scaled.setDevicePixelRatio(dpr)
            self._store_pixmap(key, scaled)
        painter.save()
        painter.setClipPath(path)
        painter.drawPixmap(target.topLeft(), scaled)
        painter.restore()

    def _paint_pills(
        self, painter: QPainter, rect: QRect, item: ConversationItem, shape: _Shape, bubble: QRectF
    ) -> None:
        painter.setFont(self._small.font)
        height = self._small.line_height + 8
        pen_color = QColor(self.accent if item.role != ROLE_USER else self._colors.meta)
        y = rect.y() + shape.pills_top
        for row in shape.pill_rows:
            total = sum(width for _, width in row) + _PILL_GAP * (len(row) - 1)
            x = bubble.right() - total if item.is_outgoing else bubble.left()
            for label, width in row:
                pill = QRectF(x + 0.5, y + 0.5, width - 1, height - 1)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.setPen(pen_color)
                painter.drawRoundedRect(pill, height / 2, height / 2)
                painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, label)
                x += width + _PILL_GAP
            y += height + 4

    def _paint_meta(
        self, painter: QPainter, rect: QRect, item: ConversationItem, shape: _Shape, bubble: QRectF
    ) -> None:
        colors = self._colors
        outgoing = item.is_outgoing
        align = (Qt.AlignmentFlag.AlignRight if outgoing else Qt.AlignmentFlag.AlignLeft) | (
            Qt.AlignmentFlag.AlignAbsolute | Qt.AlignmentFlag.AlignVCenter
        )
        painter.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
        painter.setFont(self._small.font)
        meta = format_time(item.received)
        if item.state not in (STATE_RECEIVED, STATE_FAILED):
            status = item.status_text()
            meta = f"{meta} · {status}" if meta else status
        line_height = self._small.line_height
        span = QRectF(rect.x() + _MARGIN, 0, rect.width() - 2 * _MARGIN, line_height)
        if outgoing:
            span.setRight(bubble.right() - 4)
        else:
            span.setLeft(bubble.left() + 4)
        span.moveTop(rect.y() + shape.meta_top)
        painter.setPen(colors.meta)
        painter.drawText(span, align, meta)
        if shape.error_lines:
            painter.setPen(colors.error)
            y = rect.y() + shape.error_top
            for text, _width, rtl in shape.error_lines:
                painter.setLayoutDirection(
                    Qt.LayoutDirection.RightToLeft if rtl else Qt.LayoutDirection.LeftToRight
                )
                line = QRectF(span.left(), y, span.width(), line_height)
                painter.drawText(line, align | Qt.TextFlag.TextSingleLine, text)
                y += line_height
            painter.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
        if shape.links:
            link_font = QFont(self._link.font)
            link_font.setUnderline(True)
            painter.setFont(link_font)
            painter.setPen(colors.error if item.state == STATE_FAILED else colors.link)
            areas = self._link_areas(rect, item, shape)
            for name, label, _width in shape.links:
                painter.drawText(areas[name], Qt.AlignmentFlag.AlignCenter, label)


# View -----------------------------------------------------------------------------------
#: Pixels from the bottom that still count as "at the bottom".
_PIN_SLACK = 8
#: From this many rows on, a full layout measures only what is on screen and estimates
#: the rest, then measures it exactly in idle-time slices and lays out once more.
_PROGRESSIVE_ROWS = 1000
#: An insert of this many rows (a big older page) also takes the progressive path.
_PROGRESSIVE_INSERT = 400
_REFINE_SLICE_S = 0.008
#: Re-wrap this long after the last resize step (a drag would otherwise re-wrap each step).
_REWRAP_DELAY_MS = 120


@dataclass(slots=True)
class _Anchor:
    """Where to put the viewport after the next layout: the bottom, or a row at a y."""

    index: QPersistentModelIndex | None  # None: stay at the bottom
    offset: int = 0


class ConversationView(QListView):
    """Shows a :class:`ConversationModel` as chat bubbles and keeps the reader's place.

    Stays at the bottom when new messages arrive if it was there; keeps the message at
    the top of the viewport where it is when older ones are prepended or rows change
    height; scrolls to the bottom after ``set_messages``. Ctrl+C copies the selected
    messages' text. Clicking "Retry" under a failed bubble asks for a resend.

    Signals:
        loadOlderRequested(): the reader is within a screen of the top and the model
            ``has_older``; not emitted again until :meth:`older_loaded` is called.
        retryRequested(str): resend the outbox entry with this client id.
        editRequested(str): put this client id's text back into the composer.
        sendNowRequested(str): skip the retry wait of this client id.
        discardRequested(str): drop this client id from the outbox.
    """

    loadOlderRequested = Signal()
    retryRequested = Signal(str)
    editRequested = Signal(str)
    sendNowRequested = Signal(str)
    discardRequested = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        model: ConversationModel | None = None,
        image_lookup: ImageLookup | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("conversationView")
        self.setAccessibleName("Conversation")
        self.setAccessibleDescription("Messages with the selected user, oldest first")
        self._conversation = model if model is not None else ConversationModel(self)
        self._delegate = MessageDelegate(image_lookup, self)
        self._delegate.set_base_font(self.font())
        self._delegate.set_palette(self.palette())
        self._placeholder = "No messages yet"
        self._anchor: _Anchor | None = None
        self._older_pending = False
        self._older_timer = QTimer(self)
        self._older_timer.setSingleShot(True)
        self._older_timer.setInterval(0)
        self._older_timer.timeout.connect(self._check_load_older)
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._on_tick)
        self._estimate_next = False
        self._refine_row = -1
        self._refine_timer = QTimer(self)
        self._refine_timer.setInterval(0)
        self._refine_timer.timeout.connect(self._refine_step)
        self._rewrap_timer = QTimer(self)
        self._rewrap_timer.setSingleShot(True)
        self._rewrap_timer.setInterval(_REWRAP_DELAY_MS)
        self._rewrap_timer.timeout.connect(self._on_rewrap)

        self.setUniformItemSizes(False)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWordWrap(True)
        self.setSpacing(0)
        self.setLayoutMode(QListView.LayoutMode.SinglePass)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setMouseTracking(True)
        self.verticalScrollBar().setSingleStep(24)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.DefaultContextMenu)

        self.setModel(self._conversation)
        self.setItemDelegate(self._delegate)
        self._delegate.bind_model(self._conversation)
        # After the view's own connection (which schedules the relayout): keep the anchor.
        self._delegate.sizeHintChanged.connect(self._on_size_hint_changed)

        model_ = self._conversation
        model_.rowsAboutToBeInserted.connect(self._on_rows_about_to_change)
        model_.rowsAboutToBeRemoved.connect(self._on_rows_about_to_change)
        model_.modelAboutToBeReset.connect(self._on_about_to_reset)
        model_.modelReset.connect(self._on_reset)
        model_.rowsInserted.connect(self._on_rows_changed)
        model_.rowsInserted.connect(self._on_rows_inserted)
        model_.rowsRemoved.connect(self._on_rows_changed)
        model_.hasOlderChanged.connect(self._on_has_older_changed)
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)

    # Public API ---------------------------------------------------------------------------
    def conversation_model(self) -> ConversationModel:
        return self._conversation

    def message_delegate(self) -> MessageDelegate:
        return self._delegate

    def set_placeholder(self, text: str) -> None:
        """Text shown while there are no messages (e.g. "Pick a user to see messages")."""
        self._placeholder = text
        self.viewport().update()

    def placeholder(self) -> str:
        return self._placeholder

    @Slot()
    def older_loaded(self) -> None:
        """The requested older page arrived (or failed): allow the next request."""
        self._older_pending = False
        self._older_timer.start()

    @Slot()
    def refresh_images(self) -> None:
        """Repaint after avatars or images loaded; relayout if an image changed a size."""
        if self._delegate.image_sizes_changed():
            self._capture_anchor()
            self.scheduleDelayedItemsLayout()
        self.viewport().update()

    def is_at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - _PIN_SLACK

    @Slot()
    def scroll_to_latest(self) -> None:
        self.executeDelayedItemsLayout()
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def link_rect(self, row: int, name: str) -> QRect | None:
        """Viewport rectangle of the "retry" / "edit" / "send_now" link of ``row``."""
        if not 0 <= row < len(self._conversation):
            return None
        index = self._conversation.index(row)
        area = self._delegate.link_rects(
            self.visualRect(index),
            self._conversation.item(row),
            self._conversation.row_flags(row),
        ).get(name)
        return None if area is None else area.toAlignedRect()

    def selected_text(self) -> str:
        rows = sorted({index.row() for index in self.selectedIndexes()})
        return "\n".join(self._conversation.item(row).display_text for row in rows)

    @Slot()
    def copy_selection(self) -> None:
        """Copy the text of the selected messages, oldest first, one per line."""
        text = self.selected_text()
        if text:
            QGuiApplication.clipboard().setText(text)

    def build_context_menu(self, row: int) -> QMenu:
        """The context menu for ``row``: Copy, plus outbox actions for local items."""
        menu = QMenu(self)
        menu.setAccessibleName("Message actions")
        if not 0 <= row < len(self._conversation):
            return menu
        item = self._conversation.item(row)
        selected = {index.row() for index in self.selectedIndexes()}
        if row in selected and len(selected) > 1:
            copy = menu.addAction(f"Copy {len(selected)} messages")
            copy.setData("copy:" + self.selected_text())
        else:
            copy = menu.addAction("Copy text")
            copy.setData("copy:" + item.display_text)
        copy.setShortcut(QKeySequence(QKeySequence.StandardKey.Copy))
        choices: list[tuple[str, str]] = []
        if item.state == STATE_FAILED:
            choices = [("retry", "Retry"), ("edit", "Edit"), ("discard", "Discard")]
        elif item.state == STATE_UNKNOWN:
            choices = [("retry", "Retry"), ("discard", "Discard")]
        elif item.state == STATE_QUEUED:
            choices = [("send_now", "Send now"), ("edit", "Edit"), ("discard", "Discard")]
        if choices:
            menu.addSeparator()
            for kind, label in choices:
                action = menu.addAction(label)
                action.setData(f"{kind}:{item.client_id}")
        menu.triggered.connect(self._on_menu_triggered)
        return menu

    # Anchoring ----------------------------------------------------------------------------
    def _top_index(self) -> QModelIndex:
        return self.indexAt(QPoint(self.viewport().width() // 2, 1))

    def _capture_anchor(self) -> None:
        if self._anchor is not None:
            return  # the first capture reflects what is on screen
        if len(self._conversation) == 0 or self.is_at_bottom():
            self._anchor = _Anchor(None)
            return
        top = self._top_index()
        if top.isValid():
            self._anchor = _Anchor(QPersistentModelIndex(top), self.visualRect(top).top())

    def _restore_anchor(self) -> None:
        anchor, self._anchor = self._anchor, None
        if anchor is None:
            return
        bar = self.verticalScrollBar()
        if anchor.index is None:
            bar.setValue(bar.maximum())
            return
        if not anchor.index.isValid():
            return
        index = self._conversation.index(anchor.index.row())
        delta = self.visualRect(index).top() - anchor.offset
        if delta:
            bar.setValue(bar.value() + delta)

    def _wrap_width(self) -> int:
        # The same whether or not the scroll bar shows, so it appearing never re-wraps.
        extent = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, self)
        return max(1, self.maximumViewportSize().width() - extent)

    def doItemsLayout(self) -> None:
        delegate = self._delegate
        rewrapped = delegate.set_layout_width(self._wrap_width())
        progressive = len(self._conversation) >= _PROGRESSIVE_ROWS and (
            self._estimate_next or rewrapped or self._refine_timer.isActive()
        )
        self._estimate_next = False
        if progressive:
            # Measure what will be on screen now; estimate the rest, refine it when idle.
            self._measure_around_anchor()
            delegate.estimating = True
        try:
            with bulk_allocation():
                super().doItemsLayout()
        finally:
            delegate.estimating = False
        self._restore_anchor()
        if delegate.take_estimated_count():
            self._refine_row = len(self._conversation) - 1
            self._refine_timer.start()
        else:
            self._refine_timer.stop()  # every row has its exact height
        self._older_timer.start()

    def is_measuring(self) -> bool:
        """Whether some rows still have estimated heights (refined while idle)."""
        return self._refine_timer.isActive()

    def _measure_around_anchor(self) -> None:
        """Exact heights for the rows the viewport will show after the next layout."""
        model = self._conversation
        delegate = self._delegate
        count = len(model)
        budget = 2 * max(self.viewport().height(), 200)
        anchor = self._anchor
        if anchor is None:
            top = self._top_index()
            anchor = _Anchor(QPersistentModelIndex(top)) if top.isValid() else _Anchor(None)
        if anchor.index is None or not anchor.index.isValid():
            rows: Iterable[int] = range(count - 1, -1, -1)  # pinned to the bottom
        else:
            first = anchor.index.row()
            rows = itertools.chain(range(first, count), range(first - 1, -1, -1))
        total = 0
        for row in rows:
            item, flags = model.entry(row)
            total += delegate.height_for(item, flags)
            if total > budget:
                break

    @Slot()
    def _refine_step(self) -> None:
        """Measure rows exactly for a few milliseconds; relayout once all are measured."""
        deadline = time.perf_counter() + _REFINE_SLICE_S
        model = self._conversation
        delegate = self._delegate
        row = min(self._refine_row, len(model) - 1)
        with bulk_allocation():
            while row >= 0:
                item, flags = model.entry(row)
                delegate.size_for(item, flags)
                row -= 1
                if row % 64 == 0 and time.perf_counter() > deadline:
                    break
        self._refine_row = row
        if row < 0:
            self._finish_measuring()

    def _finish_measuring(self) -> None:
        self._refine_timer.stop()
        self._capture_anchor()
        self.doItemsLayout()

    def _slot_height(self, row: int) -> int:
        """Height the current layout gave ``row`` (the distance to the next row's top).

        ``visualRect().height()`` cannot tell: QListView takes positions from the layout
        but asks the delegate for the size again, so it always shows the current height.
        """
        model = self._conversation
        top = self.visualRect(model.index(row)).top()
        if row + 1 < len(model):
            return self.visualRect(model.index(row + 1)).top() - top
        return self.contentsSize().height() - (top + self.verticalOffset())

    def _visible_rows_estimated(self) -> bool:
        """Whether a row on screen sits in a slot laid out for another (estimated) height."""
        model = self._conversation
        top = self._top_index()
        if not top.isValid():
            return False
        bottom = self.viewport().height()
        for row in range(top.row(), len(model)):
            if self.visualRect(model.index(row)).top() > bottom:
                break
            if self._slot_height(row) != self._delegate.height_for(*model.entry(row)):
                return True
        return False

    # Model signal handlers ----------------------------------------------------------------
    @Slot(QModelIndex, int, int)
    def _on_rows_about_to_change(self, _parent: QModelIndex, _first: int, _last: int) -> None:
        self._capture_anchor()

    @Slot()
    def _on_about_to_reset(self) -> None:
        self._anchor = _Anchor(None)

    @Slot()
    def _on_reset(self) -> None:
        self._anchor = _Anchor(None)
        self._estimate_next = True
        self._older_pending = False
        self._update_tick()

    @Slot(QModelIndex, int, int)
    def _on_rows_changed(self, _parent: QModelIndex, _first: int, _last: int) -> None:
        self._update_tick()

    @Slot(QModelIndex, int, int)
    def _on_rows_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        if last - first + 1 >= _PROGRESSIVE_INSERT:
            self._estimate_next = True

    def _rows_resized(self, first: int, last: int) -> bool:
        """Whether a row in first..last now wants another height than its layout slot."""
        model = self._conversation
        for row in range(max(0, first), min(last + 1, len(model))):
            if self._delegate.height_for(*model.entry(row)) != self._slot_height(row):
                return True
        return False

    def dataChanged(
        self,
        top_left: QModelIndex | QPersistentModelIndex,
        bottom_right: QModelIndex | QPersistentModelIndex,
        roles: Sequence[int] = (),
    ) -> None:
        if self._rows_resized(top_left.row(), bottom_right.row()):
            self._capture_anchor()
            super().dataChanged(top_left, bottom_right, list(roles))  # schedules a relayout
        else:
            # Same heights (e.g. "queued" -> "sending"): repaint the rows only. QListView
            # would re-lay out every row, ~40 ms for 10,000 messages, for each change.
            QAbstractItemView.dataChanged(self, top_left, bottom_right, list(roles))
        self._update_tick()

    @Slot(QModelIndex)
    def _on_size_hint_changed(self, _index: QModelIndex) -> None:
        self._capture_anchor()

    @Slot(bool)
    def _on_has_older_changed(self, _value: bool) -> None:
        self._older_timer.start()

    @Slot(int)
    def _on_scrolled(self, _value: int) -> None:
        if self._refine_timer.isActive() and self._visible_rows_estimated():
            self._finish_measuring()  # the reader outran the idle-time measuring
        if not self._older_pending and self._conversation.has_older:
            self._older_timer.start()

    @Slot()
    def _check_load_older(self) -> None:
        if self._older_pending or not self._conversation.has_older or not self.isVisible():
            return
        self.executeDelayedItemsLayout()
        if self.verticalScrollBar().value() <= max(self.viewport().height(), 1):
            self._older_pending = True
            self.loadOlderRequested.emit()

    def _update_tick(self) -> None:
        if self._conversation.has_countdowns():
            if not self._tick.isActive():
                self._tick.start()
        elif self._tick.isActive():
            self._tick.stop()

    @Slot()
    def _on_rewrap(self) -> None:
        if self._delegate.text_limit_for(self._wrap_width()) != self._delegate.text_limit:
            self._capture_anchor()
            self.doItemsLayout()

    @Slot()
    def _on_tick(self) -> None:
        if not self._conversation.has_countdowns():
            self._tick.stop()
        self.viewport().update()

    @Slot(QAction)
    def _on_menu_triggered(self, action: QAction) -> None:
        data = action.data()
        if not isinstance(data, str) or ":" not in data:
            return
        kind, value = data.split(":", 1)
        if kind == "copy":
            QGuiApplication.clipboard().setText(value)
        else:
            self._emit_request(kind, value)

    def _emit_request(self, kind: str, client_id: str) -> None:
        if kind == "retry":
            self.retryRequested.emit(client_id)
        elif kind == "edit":
            self.editRequested.emit(client_id)
        elif kind == "send_now":
            self.sendNowRequested.emit(client_id)
        elif kind == "discard":
            self.discardRequested.emit(client_id)

    # Events -------------------------------------------------------------------------------
    def _link_at(self, pos: QPoint) -> tuple[str, str] | None:
        index = self.indexAt(pos)
        if not index.isValid():
            return None
        row = index.row()
        item = self._conversation.item(row)
        if not item.is_local:
            return None
        areas = self._delegate.link_rects(
            self.visualRect(index), item, self._conversation.row_flags(row)
        )
        point = QPointF(pos)
        for name, area in areas.items():
            if area.contains(point):
                return name, item.client_id
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            hit = self._link_at(event.position().toPoint())
            if hit is not None:
                event.accept()
                self._emit_request(*hit)
                return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        over_link = self._link_at(event.position().toPoint()) is not None
        shape = Qt.CursorShape.PointingHandCursor if over_link else Qt.CursorShape.ArrowCursor
        if self.viewport().cursor().shape() != shape:
            self.viewport().setCursor(shape)
        super().mouseMoveEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy_selection()
            event.accept()
            return
        super().keyPressEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        if event.reason() == QContextMenuEvent.Reason.Keyboard:
            index = self.currentIndex()
            where = self.viewport().mapToGlobal(self.visualRect(index).center())
        else:
            index = self.indexAt(event.pos())
            where = event.globalPos()
        if not index.isValid():
            return
        menu = self.build_context_menu(index.row())
        menu.exec(where)
        menu.deleteLater()

    def resizeEvent(self, event: QResizeEvent) -> None:
        had_anchor = self._anchor is not None
        self._capture_anchor()
        # The delegate wraps text itself, so skip QListView's "relayout every row 100 ms
        # after any resize" (word wrap mode) and relayout only when the wrap width changes.
        QAbstractItemView.resizeEvent(self, event)
        if self._delegate.text_limit_for(self._wrap_width()) != self._delegate.text_limit:
            self._rewrap_timer.start()
        elif not had_anchor:
            self._restore_anchor()
        if self._refine_timer.isActive() and self._visible_rows_estimated():
            self._finish_measuring()  # a taller window shows rows not measured yet

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._older_timer.start()

    def changeEvent(self, event: QEvent) -> None:
        kind = event.type()
        if kind in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._delegate.set_base_font(self.font())
            self._estimate_next = True
            self._capture_anchor()
            self.scheduleDelayedItemsLayout()
        elif kind == QEvent.Type.PaletteChange:
            self._delegate.set_palette(self.palette())
        super().changeEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        if len(self._conversation) == 0:
            painter = QPainter(self.viewport())
            try:
                painter.setPen(self._delegate.colors.placeholder)
                area = self.viewport().rect().adjusted(24, 24, -24, -24)
                painter.drawText(
                    area,
                    int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap),
                    self._placeholder,
                )
            finally:
                painter.end()
            return
        super().paintEvent(event)
