"""The conversation's list model: rows sorted by time, found through dict indexes.

:class:`ConversationModel` keeps rows sorted with ``bisect`` and finds them through dict
indexes; older pages are inserted with ``beginInsertRows`` (never a reset), so the view
keeps its place; a poll result replaces the local copy of a message this app sent
(matched by client id), so nothing shows twice.

What a row is lives in :mod:`.items` (Qt-free); how it looks in :mod:`.bubbles`. This
module holds the Qt model only: no painting, no widgets.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QDateTime,
    QLocale,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from smooch_desktop.api.models import ROLE_USER, ROLE_WHISPER, Message
from smooch_desktop.ui.conversation.items import ConversationItem, format_time, row_flags
from smooch_desktop.ui.plain import plain_tooltip

#: The role under which :meth:`ConversationModel.data` returns the :class:`ConversationItem`.
ItemRole: Final = int(Qt.ItemDataRole.UserRole) + 1

SortKey = tuple[int, float, int]


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


def format_full_time(timestamp: float) -> str:
    """Date and time in the user's locale, for tooltips."""
    if timestamp <= 0:
        return "time unknown"
    when = QDateTime.fromMSecsSinceEpoch(int(timestamp * 1000))
    return QLocale().toString(when, QLocale.FormatType.LongFormat)


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
            if not item.is_local:
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
            flags = row_flags(items[row - 1] if row > 0 else None, items[row])
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
