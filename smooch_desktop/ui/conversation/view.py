"""The conversation's scrolling view: keeps the reader's place in a long history.

:class:`ConversationView` anchors the viewport on a message across inserts, removals,
relayouts and resizes, stays pinned to the bottom when it was there, and asks for older
history once per page when scrolled near the top. It lays rows out itself
(:class:`~.row_layout.RowLayout`, one column as wide as the viewport) rather than through
``QListView``'s private layout, which measures every row again on any insert: a message
that comes, goes or changes height is measured alone, and a new one at the bottom is the
only bubble drawn. A whole layout (a reset, a re-wrap, a big insert) with thousands of
rows measures what is on screen, estimates the rest and measures it exactly while idle.
It is still a ``QListView`` so screen readers get its rows as list items. It turns
clicks on a bubble's links and its context menu into request signals, and opens what a
message carries: links (http(s) and mailto only) in the browser or mail app, images in
:class:`~.dialogs.ImageViewer`, files to the browser or "Save…" (written by the media
loader's worker), and "Show details…" (:class:`~.dialogs.MessageDetailsDialog`).

Rows come from :mod:`.model`; their sizes and pixels from :mod:`.delegate`. This module
holds no drawing of bubbles and no row data of its own.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import (
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    QRect,
    QStandardPaths,
    Qt,
    QTimer,
    QUrl,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QAction,
    QContextMenuEvent,
    QDesktopServices,
    QGuiApplication,
    QHideEvent,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QRegion,
    QResizeEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QListView,
    QMenu,
    QStyle,
    QStyleOptionViewItem,
    QWidget,
)

from smooch_desktop.core.outbox import EntryState
from smooch_desktop.ui.conversation.content import (
    details_text,
    fetchable_media_url,
    file_name,
    map_url,
    safe_url,
)
from smooch_desktop.ui.conversation.delegate import ImageLookup, MessageDelegate
from smooch_desktop.ui.conversation.items import ConversationItem
from smooch_desktop.ui.conversation.model import (
    ConversationModel,
    bulk_allocation,
    format_full_time,
)
from smooch_desktop.ui.conversation.rich import Target
from smooch_desktop.ui.conversation.row_layout import RowLayout
from smooch_desktop.ui.focus_ring import RING_WIDTH, FocusRing
from smooch_desktop.ui.media_loader import MediaLoader
from smooch_desktop.ui.plain import inline, menu_text

#: ``opener(url)`` opens an address outside the app (the browser, the mail app).
UrlOpener = Callable[[QUrl], bool]
#: ``chooser(suggested name)`` asks where to save a file; "" if the user cancelled.
SavePathChooser = Callable[[str], str]

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
        statusMessage(str): a short outcome to show in the status bar ("Saved …").
        atBottomChanged(bool): the newest message came into view (True) or left it
            (False), by scrolling, resizing or rows arriving (:meth:`is_at_bottom`).
    """

    loadOlderRequested = Signal()
    retryRequested = Signal(str)
    editRequested = Signal(str)
    sendNowRequested = Signal(str)
    discardRequested = Signal(str)
    statusMessage = Signal(str)
    atBottomChanged = Signal(bool)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        model: ConversationModel | None = None,
        image_lookup: ImageLookup | None = None,
        media: MediaLoader | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("conversationView")
        FocusRing(self)  # the style draws no focus for a list view: a Tab stop must show it
        self._keep_ring_off_viewport()
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
        self._watched_window: QWidget | None = None
        self._estimate_next = False
        self._refine_row = -1
        self._refine_timer = QTimer(self)
        self._refine_timer.setInterval(0)
        self._refine_timer.timeout.connect(self._refine_step)
        self._rewrap_timer = QTimer(self)
        self._rewrap_timer.setSingleShot(True)
        self._rewrap_timer.setInterval(_REWRAP_DELAY_MS)
        self._rewrap_timer.timeout.connect(self._on_rewrap)
        self._media = media
        if media is not None:
            self._delegate.set_media(media)
            media.thumbnailReady.connect(self._on_thumbnail)
            media.thumbnailFailed.connect(self._on_thumbnail)
        #: Opens links outside the app; tests put a recorder here.
        self.url_opener: UrlOpener = QDesktopServices.openUrl
        #: Asks where to save a file (the platform's save dialog, which confirms overwriting).
        self.save_path_chooser: SavePathChooser = self._ask_save_path
        self.viewer: QWidget | None = None

        self._rows = RowLayout()
        self._dirty = True
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setMouseTracking(True)
        self.verticalScrollBar().setSingleStep(24)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.DefaultContextMenu)

        self.setModel(self._conversation)
        self.setItemDelegate(self._delegate)
        self._delegate.bind_model(self._conversation)

        model_ = self._conversation
        model_.rowsAboutToBeInserted.connect(self._on_rows_about_to_change)
        model_.rowsAboutToBeRemoved.connect(self._on_rows_about_to_change)
        model_.modelAboutToBeReset.connect(self._on_about_to_reset)
        model_.modelReset.connect(self._on_reset)
        model_.rowsRemoved.connect(self._on_rows_removed)
        model_.layoutAboutToBeChanged.connect(self._capture_anchor)
        model_.layoutChanged.connect(self._on_layout_changed)
        model_.hasOlderChanged.connect(self._on_has_older_changed)
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self._at_bottom = True
        self.verticalScrollBar().rangeChanged.connect(self._check_at_bottom)

    # Public API ---------------------------------------------------------------------------
    def conversation_model(self) -> ConversationModel:
        return self._conversation

    def media_loader(self) -> MediaLoader | None:
        return self._media

    def shutdown(self) -> None:
        """Stop the media loader's threads (the window is closing); reopening restarts them."""
        if self._media is not None:
            self._media.stop()

    # Opening what a message carries ---------------------------------------------------
    def target_at(self, pos: QPoint) -> Target | None:
        """What a click at viewport position ``pos`` opens (see :meth:`activate`)."""
        index = self.indexAt(pos)
        if not index.isValid():
            return None
        row = index.row()
        item, flags = self._conversation.entry(row)
        return self._delegate.target_at(self.visualRect(index), item, flags, QPointF(pos))

    def target_rect(self, row: int, target: Target) -> QRect | None:
        """Viewport rectangle of the clickable part of ``row`` with ``target``, if shown."""
        if not 0 <= row < len(self._conversation):
            return None
        item, flags = self._conversation.entry(row)
        area = self._delegate.target_rect(
            self.visualRect(self._conversation.index(row)), item, flags, target
        )
        return None if area is None else area.toAlignedRect()

    def activate(self, target: Target) -> None:
        """Open ``target``: ("url", address), ("image", URL) or ("save", file URL)."""
        kind, value = target
        if kind == "url":
            self.open_url(value)
        elif kind == "image":
            self.open_image(value)
        elif kind == "save":
            self.save_file(value)

    def open_url(self, url: str) -> bool:
        """Open an http(s) or mailto address outside the app; anything else is refused."""
        safe = safe_url(url)
        if safe is None:
            self.statusMessage.emit("That address can't be opened from here.")
            return False
        return bool(self.url_opener(QUrl(safe)))

    def open_image(self, url: str) -> None:
        """Show the image at ``url`` full size in the viewer (one viewer at a time)."""
        from smooch_desktop.ui.conversation.dialogs import ImageViewer

        if self._media is None or not fetchable_media_url(url):
            self.open_url(url)
            return
        if self.viewer is not None:
            self.viewer.close()
        viewer = ImageViewer(
            url, self._media, open_url=self.url_opener, on_save=self.save_file, parent=self
        )
        viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        viewer.destroyed.connect(self._forget_viewer)
        self.viewer = viewer
        viewer.show()

    @Slot()
    def _forget_viewer(self) -> None:
        self.viewer = None

    def save_file(self, url: str) -> None:
        """Ask where, then download ``url`` there on the media worker (never over a file
        the user did not agree to replace); the outcome goes to :attr:`statusMessage`."""
        if self._media is None or not fetchable_media_url(url):
            self.statusMessage.emit("Only files from secure (https) addresses can be saved.")
            return
        chosen = self.save_path_chooser(suggested_file_name(url))
        if not chosen:
            return
        target = Path(chosen)
        name = inline(target.name, 80, one_line=True)
        self.statusMessage.emit(f"Saving {name}…")
        self._media.save_file(
            url,
            target,
            lambda path, size: self.statusMessage.emit(
                f"Saved {inline(path.name, 80, one_line=True)} ({size:,} bytes)"
            ),
            lambda reason: self.statusMessage.emit(f"Couldn't save {name}: {reason}"),
            self,
            overwrite=True,  # the save dialog asked before choosing an existing file
        )

    def _ask_save_path(self, suggested: str) -> str:
        folder = QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.DownloadLocation
        ) or QStandardPaths.writableLocation(QStandardPaths.StandardLocation.HomeLocation)
        path, _filter = QFileDialog.getSaveFileName(
            self, "Save file", str(Path(folder) / suggested)
        )
        return path

    def details_of(self, row: int) -> str:
        """The plain-text details of ``row`` ("Show details…")."""
        item = self._conversation.item(row)
        return item_details(item)

    def show_details(self, row: int) -> None:
        from smooch_desktop.ui.conversation.dialogs import MessageDetailsDialog

        if not 0 <= row < len(self._conversation):
            return
        dialog = MessageDetailsDialog(self.details_of(row), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

    def primary_target(self, row: int) -> Target | None:
        """What Enter on ``row`` opens: its image, file, place, or its only link."""
        item = self._conversation.item(row)
        if item.has_image and fetchable_media_url(item.media_url):
            return ("image", item.media_url)
        if item.has_file and safe_url(item.media_url):
            return ("url", item.media_url)
        if item.coordinates is not None:
            return ("url", map_url(*item.coordinates))
        return None

    @Slot(str)
    def _on_thumbnail(self, _url: str, _reason: str = "") -> None:
        self.viewport().update()

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
            self._schedule_layout()
        self.viewport().update()

    def is_at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - _PIN_SLACK

    @Slot()
    def scroll_to_latest(self) -> None:
        self._ensure_layout()
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

    def build_context_menu(self, row: int, link: Target | None = None) -> QMenu:
        """The context menu for ``row``: Copy, what the message can open, Show details…,
        plus outbox actions for local items. ``link``: the clickable part right-clicked."""
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
        self._add_open_actions(menu, row, item, link)
        choices: list[tuple[str, str]] = []
        if item.state == EntryState.FAILED:
            choices = [("retry", "Retry"), ("edit", "Edit"), ("discard", "Discard")]
        elif item.state == EntryState.UNKNOWN:
            choices = [("retry", "Retry"), ("discard", "Discard")]
        elif item.state == EntryState.QUEUED:
            choices = [("send_now", "Send now"), ("edit", "Edit"), ("discard", "Discard")]
        if choices:
            menu.addSeparator()
            for kind, label in choices:
                action = menu.addAction(label)
                action.setData(f"{kind}:{item.client_id}")
        menu.addSeparator()
        details = menu.addAction("Show details…")
        details.setData(f"details:{row}")
        menu.triggered.connect(self._on_menu_triggered)
        return menu

    def _add_open_actions(
        self, menu: QMenu, row: int, item: ConversationItem, link: Target | None
    ) -> None:
        entries: list[tuple[str, str]] = []
        if link is not None and link[0] == "url":
            entries.append(("Open link", f"url:{link[1]}"))
            entries.append(("Copy link address", f"copy:{link[1]}"))
        if item.has_image and fetchable_media_url(item.media_url):
            entries.append(("Open image", f"image:{item.media_url}"))
        if item.has_file:
            if safe_url(item.media_url):
                entries.append(("Open file in browser", f"url:{item.media_url}"))
            if fetchable_media_url(item.media_url):
                entries.append(("Save file…", f"save:{item.media_url}"))
        if item.coordinates is not None:
            entries.append(("Open map", f"url:{map_url(*item.coordinates)}"))
        if item.media_url and (item.has_image or item.has_file):
            entries.append(("Copy media address", f"copy:{item.media_url}"))
        for label, data in entries:
            action = menu.addAction(menu_text(label))
            action.setData(data)

    # Geometry (QAbstractItemView) -----------------------------------------------------------
    # Rows sit where :class:`RowLayout` says: one column as wide as the viewport, each row
    # as tall as the delegate measured it when it was laid out (its "slot").

    def _ensure_layout(self) -> None:
        """Lay out now if a whole layout is queued or the rows changed behind our back
        (Qt's own views do this in ``visualRect`` and ``indexAt`` too)."""
        if self._dirty or len(self._rows) != len(self._conversation):
            self.doItemsLayout()

    def _row_rect(self, row: int) -> QRect:
        """Viewport rectangle of ``row``'s slot in the current layout (no layout run)."""
        rows = self._rows
        return QRect(
            0,
            rows.top(row) - self.verticalScrollBar().value(),
            self.viewport().width(),
            rows.height(row),
        )

    def _row_at(self, y: int) -> int:
        """The row at viewport height ``y`` in the current layout, or -1 (no layout run)."""
        row = self._rows.row_at(y + self.verticalScrollBar().value())
        return row if row < len(self._conversation) else -1

    def visualRect(self, index: QModelIndex | QPersistentModelIndex) -> QRect:
        if not index.isValid() or index.model() is not self._conversation:
            return QRect()
        self._ensure_layout()
        row = index.row()
        return self._row_rect(row) if 0 <= row < len(self._rows) else QRect()

    def indexAt(self, point: QPoint) -> QModelIndex:
        self._ensure_layout()
        row = self._row_at(point.y())
        return self._conversation.index(row) if row >= 0 else QModelIndex()

    def scrollTo(
        self,
        index: QModelIndex | QPersistentModelIndex,
        hint: QAbstractItemView.ScrollHint = QAbstractItemView.ScrollHint.EnsureVisible,
    ) -> None:
        if not index.isValid() or index.model() is not self._conversation:
            return
        self._ensure_layout()
        row = index.row()
        if not 0 <= row < len(self._rows):
            return
        top, height = self._rows.top(row), self._rows.height(row)
        bar = self.verticalScrollBar()
        page = self.viewport().height()
        Hint = QAbstractItemView.ScrollHint
        value = bar.value()
        if hint == Hint.PositionAtTop:
            value = top
        elif hint == Hint.PositionAtBottom:
            value = top + height - page
        elif hint == Hint.PositionAtCenter:
            value = top + (height - page) // 2
        elif top < value:
            value = top
        elif top + height > value + page:
            value = min(top, top + height - page)  # a row taller than the page: its top
        bar.setValue(value)

    def moveCursor(
        self, action: QAbstractItemView.CursorAction, modifiers: Qt.KeyboardModifier
    ) -> QModelIndex:
        self._ensure_layout()
        count = len(self._rows)
        if count == 0:
            return QModelIndex()
        current = self.currentIndex()
        if not current.isValid():
            top = self._row_at(0)
            return self._conversation.index(top if top >= 0 else count - 1)
        row = current.row()
        rows = self._rows
        page = max(1, self.viewport().height())
        Action = QAbstractItemView.CursorAction
        if action in (Action.MoveUp, Action.MovePrevious):
            row -= 1
        elif action in (Action.MoveDown, Action.MoveNext):
            row += 1
        elif action == Action.MoveHome:
            row = 0
        elif action == Action.MoveEnd:
            row = count - 1
        elif action == Action.MovePageUp:
            y = rows.top(row) - page
            row = rows.row_at(y) if y > 0 else 0
        elif action == Action.MovePageDown:
            y = rows.top(row) + page
            row = rows.row_at(y) if y < rows.total else count - 1
        return self._conversation.index(min(max(row, 0), count - 1))

    def horizontalOffset(self) -> int:
        return 0

    def verticalOffset(self) -> int:
        return self.verticalScrollBar().value()

    def isIndexHidden(self, index: QModelIndex | QPersistentModelIndex) -> bool:
        return False

    def setSelection(self, rect: QRect, command: QItemSelectionModel.SelectionFlag) -> None:
        """Select the rows ``rect`` (viewport coordinates, from a click or a drag) crosses."""
        self._ensure_layout()
        area = rect.normalized()
        offset = self.verticalScrollBar().value()
        rows = self._rows
        top, bottom = area.top() + offset, area.bottom() + offset
        selection = QItemSelection()
        if len(rows) and bottom >= 0 and top < rows.total:
            first = rows.row_at(max(top, 0))
            last = rows.row_at(min(bottom, rows.total - 1))
            model = self._conversation
            selection.select(model.index(first), model.index(last))
        self.selectionModel().select(selection, command)

    def visualRegionForSelection(self, selection: QItemSelection) -> QRegion:
        region = QRegion()
        visible = self.viewport().rect()
        for number in range(selection.size()):
            part = selection.at(number)
            if not part.isValid() or part.model() is not self._conversation:
                continue
            first, last = part.top(), part.bottom()
            if last >= len(self._rows):
                continue
            area = self._row_rect(first).united(self._row_rect(last))
            region += area.intersected(visible)
        return region

    def _keep_ring_off_viewport(self) -> None:
        """Inset the viewport so the focus ring (drawn over the frame) does not overlap it:
        Qt moves the pixels of a scrolled widget only when no sibling covers it, and
        otherwise repaints all of it."""
        inset = max(0, RING_WIDTH - self.frameWidth())
        self.setViewportMargins(inset, inset, inset, inset)

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        # Move the pixels and draw only what came into view, without QListView's version
        # (which consults its own row positions, unused here).
        self.viewport().scroll(dx, dy)

    def updateGeometries(self) -> None:
        page = self.viewport().height()
        bar = self.verticalScrollBar()
        bar.setPageStep(max(1, page))
        bar.setRange(0, max(0, self._rows.total - page))
        self.horizontalScrollBar().setRange(0, 0)
        QAbstractItemView.updateGeometries(self)  # not QListView's: its layout is unused

    # Anchoring ----------------------------------------------------------------------------
    def _top_index(self) -> QModelIndex:
        row = self._row_at(1)
        return self._conversation.index(row) if row >= 0 else QModelIndex()

    def _capture_anchor(self) -> None:
        if self._anchor is not None:
            return  # the first capture reflects what is on screen
        if len(self._conversation) == 0 or self.is_at_bottom():
            self._anchor = _Anchor(None)
            return
        top = self._top_index()
        if top.isValid():
            self._anchor = _Anchor(QPersistentModelIndex(top), self._row_rect(top.row()).top())

    def _restore_anchor(self) -> None:
        anchor, self._anchor = self._anchor, None
        if anchor is None:
            return
        bar = self.verticalScrollBar()
        if anchor.index is None:
            bar.setValue(bar.maximum())
            return
        row = anchor.index.row()
        if not anchor.index.isValid() or row >= len(self._rows):
            return
        delta = self._row_rect(row).top() - anchor.offset
        if delta:
            bar.setValue(bar.value() + delta)

    def _wrap_width(self) -> int:
        # The same whether or not the scroll bar shows, so it appearing never re-wraps.
        extent = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, self)
        return max(1, self.maximumViewportSize().width() - extent)

    def _schedule_layout(self) -> None:
        """Lay every row out again at the next event loop pass (or when asked first)."""
        self._dirty = True
        self.scheduleDelayedItemsLayout()

    def _height_of(self, row: int) -> int:
        item, flags = self._conversation.entry(row)
        return self._delegate.height_for(item, flags)

    def doItemsLayout(self) -> None:
        """Measure every row (or estimate most of them, see ``_PROGRESSIVE_ROWS``) and lay
        them out afresh: after a reset, a re-wrap, a font change or a big insert. Rows
        that come, go or change height one run at a time never get here (see
        :meth:`rowsInserted`, :meth:`_on_rows_removed`, :meth:`dataChanged`)."""
        delegate = self._delegate
        rewrapped = delegate.set_layout_width(self._wrap_width())
        model = self._conversation
        progressive = len(model) >= _PROGRESSIVE_ROWS and (
            self._estimate_next or rewrapped or self._refine_timer.isActive()
        )
        self._estimate_next = False
        if progressive:
            # Measure what will be on screen now; estimate the rest, refine it when idle.
            self._measure_around_anchor()
            delegate.estimating = True
        try:
            with bulk_allocation():
                size_for = delegate.size_for
                self._rows.reset(size_for(*model.entry(row)).height() for row in range(len(model)))
        finally:
            delegate.estimating = False
        self._dirty = False
        # QAbstractItemView's, not QListView's (which would measure every row again): it
        # drops a queued layout, sets the scroll range and repaints.
        QAbstractItemView.doItemsLayout(self)
        self._restore_anchor()
        if delegate.take_estimated_count():
            self._refine_row = len(model) - 1
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

    def _visible_rows_estimated(self) -> bool:
        """Whether a row on screen sits in a slot laid out for another (estimated) height."""
        if self._dirty or len(self._rows) != len(self._conversation):
            return False  # a whole layout is coming anyway
        row = self._row_at(0)
        if row < 0:
            return False
        bottom = self.viewport().height()
        rows = self._rows
        offset = self.verticalScrollBar().value()
        while row < len(rows) and rows.top(row) - offset <= bottom:
            if rows.height(row) != self._height_of(row):
                return True
            row += 1
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
        self._rows.clear()
        self._schedule_layout()
        self._update_tick()

    @Slot()
    def _on_layout_changed(self) -> None:
        self._capture_anchor()
        self._schedule_layout()

    def _incremental(self, rows_before: int) -> bool:
        """Whether the current layout can take a change in place: nothing queued, it had
        every row before the change (``rows_before`` of them) and the wrap width holds."""
        return (
            not self._dirty
            and len(self._rows) == rows_before
            and self._delegate.text_limit_for(self._wrap_width()) == self._delegate.text_limit
        )

    def rowsInserted(
        self, parent: QModelIndex | QPersistentModelIndex, first: int, last: int
    ) -> None:
        """Lay out only the new rows (and the one after them, whose neighbour changed):
        a new message costs one measurement, not one per row of the conversation."""
        count = last - first + 1
        rows = self._rows
        if parent.isValid():
            pass
        elif count >= _PROGRESSIVE_INSERT or not self._incremental(len(self._conversation) - count):
            if count >= _PROGRESSIVE_INSERT:
                self._estimate_next = True
            self._schedule_layout()
        else:
            with bulk_allocation():
                rows.insert(first, [self._height_of(row) for row in range(first, last + 1)])
            after = last + 1
            if after < len(rows):
                rows.set_heights({after: self._height_of(after)})
            self._placed(first)
        QAbstractItemView.rowsInserted(self, parent, first, last)
        self._update_tick()

    def rowsAboutToBeRemoved(
        self, parent: QModelIndex | QPersistentModelIndex, first: int, last: int
    ) -> None:
        # QAbstractItemView's (current index, selection), not QListView's: it would
        # schedule a layout of every row.
        QAbstractItemView.rowsAboutToBeRemoved(self, parent, first, last)

    @Slot(QModelIndex, int, int)
    def _on_rows_removed(self, parent: QModelIndex, first: int, last: int) -> None:
        rows = self._rows
        count = last - first + 1
        if parent.isValid():
            return
        if not self._incremental(len(self._conversation) + count):
            self._schedule_layout()
        else:
            rows.remove(first, last)
            if first < len(rows):
                rows.set_heights({first: self._height_of(first)})  # its neighbour changed
            self._placed(first)
        self._update_tick()

    def _placed(self, first: int) -> None:
        """After rows from ``first`` down moved: the scroll range, the reader's place, and
        a repaint of what moved on screen (for a new message at the bottom, the scroll
        moves the pixels and only the new row is drawn)."""
        self.updateGeometries()
        self._restore_anchor()
        if first < len(self._rows):
            top = max(0, self._row_rect(first).top())
        else:
            top = self._rows.total - self.verticalScrollBar().value()
        viewport = self.viewport()
        if top < viewport.height():
            viewport.update(QRect(0, top, viewport.width(), viewport.height() - top))
        self._check_at_bottom()

    def dataChanged(
        self,
        top_left: QModelIndex | QPersistentModelIndex,
        bottom_right: QModelIndex | QPersistentModelIndex,
        roles: Sequence[int] = (),
    ) -> None:
        first, last = top_left.row(), bottom_right.row()
        if self._incremental(len(self._conversation)) and 0 <= first <= last < len(self._rows):
            rows = self._rows
            changed = {
                row: height
                for row in range(first, last + 1)
                if (height := self._height_of(row)) != rows.height(row)
            }
            if changed:
                self._capture_anchor()
                rows.set_heights(changed)
                self._placed(first)
            else:
                # Same heights (e.g. "queued" -> "sending"): repaint those rows only.
                area = self._row_rect(first).united(self._row_rect(last))
                self.viewport().update(area.intersected(self.viewport().rect()))
        elif not self._dirty:
            self._schedule_layout()
        self._update_tick()

    @Slot(bool)
    def _on_has_older_changed(self, _value: bool) -> None:
        self._older_timer.start()

    @Slot()
    def _check_at_bottom(self) -> None:
        at_bottom = self.is_at_bottom()
        if at_bottom != self._at_bottom:
            self._at_bottom = at_bottom
            self.atBottomChanged.emit(at_bottom)

    @Slot(int)
    def _on_scrolled(self, _value: int) -> None:
        self._check_at_bottom()
        if self._refine_timer.isActive() and self._visible_rows_estimated():
            self._finish_measuring()  # the reader outran the idle-time measuring
        if not self._older_pending and self._conversation.has_older:
            self._older_timer.start()

    @Slot()
    def _check_load_older(self) -> None:
        if self._older_pending or not self._conversation.has_older or not self.isVisible():
            return
        self._ensure_layout()
        if self.verticalScrollBar().value() <= max(self.viewport().height(), 1):
            self._older_pending = True
            self.loadOlderRequested.emit()

    def _update_tick(self) -> None:
        """Tick each second only while a retry countdown is on screen: none while the view
        is hidden or its window minimised (docs/architecture.md#timers)."""
        if self._conversation.has_countdowns() and self._on_screen():
            if not self._tick.isActive():
                self._tick.start()
        elif self._tick.isActive():
            self._tick.stop()

    def _on_screen(self) -> bool:
        return self.isVisible() and not self.window().isMinimized()

    def _watch_window(self) -> None:
        """Hear when the window is minimised or restored (only it gets that event)."""
        window = self.window()
        if window is not self and window is not self._watched_window:
            if self._watched_window is not None:
                with contextlib.suppress(RuntimeError):  # that window is deleted already
                    self._watched_window.removeEventFilter(self)
            window.installEventFilter(self)
            self._watched_window = window

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._watched_window and event.type() == QEvent.Type.WindowStateChange:
            self._update_tick()
        return super().eventFilter(watched, event)

    @Slot()
    def _on_rewrap(self) -> None:
        if self._delegate.text_limit_for(self._wrap_width()) != self._delegate.text_limit:
            self._capture_anchor()
            self.doItemsLayout()

    @Slot()
    def _on_tick(self) -> None:
        if not self._conversation.has_countdowns() or not self._on_screen():
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
        elif kind in ("url", "image", "save"):
            self.activate((kind, value))
        elif kind == "details":
            self.show_details(int(value))
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
            pos = event.position().toPoint()
            hit = self._link_at(pos)
            if hit is not None:
                event.accept()
                self._emit_request(*hit)
                return
            target = self.target_at(pos)
            if target is not None:
                event.accept()
                index = self.indexAt(pos)
                self.setCurrentIndex(index)
                self.activate(target)
                return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        target = self.target_at(pos)
        over_link = target is not None or self._link_at(pos) is not None
        if target is not None and target[0] == "url":
            self.viewport().setToolTip(inline(target[1], 300, one_line=True))
        elif self.viewport().toolTip():
            self.viewport().setToolTip("")
        shape = Qt.CursorShape.PointingHandCursor if over_link else Qt.CursorShape.ArrowCursor
        if self.viewport().cursor().shape() != shape:
            self.viewport().setCursor(shape)
        super().mouseMoveEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy_selection()
            event.accept()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            target = self.primary_target(self.currentIndex().row())
            if target is not None:
                self.activate(target)
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
        link = None
        if event.reason() != QContextMenuEvent.Reason.Keyboard:
            link = self.target_at(event.pos())
        menu = self.build_context_menu(index.row(), link)
        menu.exec(where)
        menu.deleteLater()

    def resizeEvent(self, event: QResizeEvent) -> None:
        had_anchor = self._anchor is not None
        self._capture_anchor()
        # The delegate wraps text itself: relayout only when the wrap width changes (not
        # QListView's "relayout every row after any resize").
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
        self._watch_window()
        self._update_tick()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._update_tick()

    def changeEvent(self, event: QEvent) -> None:
        kind = event.type()
        if kind == QEvent.Type.StyleChange:
            self._keep_ring_off_viewport()
        if kind in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._delegate.set_base_font(self.font())
            self._estimate_next = True
            self._capture_anchor()
            self._schedule_layout()
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
        self._ensure_layout()
        self._paint_rows(event.rect())

    def _paint_rows(self, area: QRect) -> None:
        """Draw the rows crossing ``area`` (viewport coordinates) through the delegate."""
        rows = self._rows
        offset = self.verticalScrollBar().value()
        first = rows.row_at(max(0, area.top() + offset))
        if first < 0:
            return
        last = rows.row_at(area.bottom() + offset)
        if last < 0:
            last = len(rows) - 1
        model = self._conversation
        selection = self.selectionModel()
        current = self.currentIndex().row() if self.hasFocus() else -1
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        base = option.state & ~(QStyle.StateFlag.State_Selected | QStyle.StateFlag.State_HasFocus)
        width = self.viewport().width()
        painter = QPainter(self.viewport())
        try:
            for row in range(first, last + 1):
                index = model.index(row)
                state = base
                if selection is not None and selection.isSelected(index):
                    state |= QStyle.StateFlag.State_Selected
                if row == current:
                    state |= QStyle.StateFlag.State_HasFocus
                option.state = state
                option.rect = QRect(0, rows.top(row) - offset, width, rows.height(row))
                self._delegate.paint(painter, option, index)
        finally:
            painter.end()


_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def suggested_file_name(url: str) -> str:
    """A safe file name to offer in the save dialog for ``url`` (no folders, no dot start)."""
    name = _UNSAFE_NAME.sub("_", file_name(url, "download")).strip(" .")
    return inline(name, 120, one_line=True) or "download"


def item_details(item: ConversationItem) -> str:
    """The plain-text details of ``item``: facts, actions, items, fields, payload, metadata."""
    author = item.author_name or ("User" if item.role == "user" else "Business")
    return details_text(
        message_id=item.server_id,
        msg_type=item.msg_type,
        role=item.role,
        author=author,
        received=format_full_time(item.received),
        text=item.text,
        media_url=item.media_url,
        media_type=item.media_type,
        media_size=item.media_size,
        alt_text=item.alt_text,
        payload=item.payload,
        coordinates=item.coordinates,
        actions=item.actions,
        items=item.items,
        fields=item.fields,
        metadata=dict(item.metadata),
        state=item.status_text() if item.is_local else "",
    )
