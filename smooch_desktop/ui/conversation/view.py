"""The conversation's scrolling view: what a message does and shows.

:class:`ConversationView` is the chat pane's list of bubbles. Its rows are placed,
anchored and painted by :class:`~.row_view.RowView` (it stays pinned to the bottom when
it was there and keeps the message read in place otherwise); this module adds asking for
older history once per page when scrolled near the top, the placeholder, the retry
countdown's tick, and everything a message can be asked for: clicks on a bubble's links
and its context menu become request signals, and what a message carries is opened: links
(http(s) and mailto only) in the browser or mail app, images in
:class:`~.dialogs.ImageViewer`, files to the browser or "Save…" (written by the media
loader's worker), and "Show details…" (:class:`~.dialogs.MessageDetailsDialog`).

Rows come from :mod:`.model`; their sizes and pixels from :mod:`.delegate`. This module
holds no drawing of bubbles, no row positions and no row data of its own.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import (
    QEvent,
    QObject,
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
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QMenu,
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
    format_full_time,
)
from smooch_desktop.ui.conversation.rich import Target
from smooch_desktop.ui.conversation.row_view import RowView
from smooch_desktop.ui.media_loader import MediaLoader
from smooch_desktop.ui.plain import inline, menu_text

#: ``opener(url)`` opens an address outside the app (the browser, the mail app).
UrlOpener = Callable[[QUrl], bool]
#: ``chooser(suggested name)`` asks where to save a file; "" if the user cancelled.
SavePathChooser = Callable[[str], str]


class ConversationView(RowView):
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
            (False), by scrolling, resizing or rows arriving (:meth:`is_at_bottom`;
            from :class:`~.row_view.RowView`).

    Where rows sit, how the reader's place is kept and how rows are painted is
    :class:`~.row_view.RowView`'s; this class is what a message does and shows.
    """

    loadOlderRequested = Signal()
    retryRequested = Signal(str)
    editRequested = Signal(str)
    sendNowRequested = Signal(str)
    discardRequested = Signal(str)
    statusMessage = Signal(str)

    # Class defaults: Qt calls some overrides while RowView.__init__ is still running.
    _watched_window: QWidget | None = None
    _ready = False

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        model: ConversationModel | None = None,
        image_lookup: ImageLookup | None = None,
        media: MediaLoader | None = None,
    ) -> None:
        conversation = model if model is not None else ConversationModel()
        delegate = MessageDelegate(image_lookup)
        super().__init__(conversation, delegate, parent)
        if model is None:
            conversation.setParent(self)
        delegate.setParent(self)
        self.setObjectName("conversationView")
        self.setAccessibleName("Conversation")
        self.setAccessibleDescription("Messages with the selected user, oldest first")
        delegate.set_base_font(self.font())
        delegate.set_palette(self.palette())
        delegate.bind_model(conversation)
        self._placeholder = "No messages yet"
        self._older_pending = False
        self._older_timer = QTimer(self)
        self._older_timer.setSingleShot(True)
        self._older_timer.setInterval(0)
        self._older_timer.timeout.connect(self._check_load_older)
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._on_tick)
        self._media = media
        if media is not None:
            delegate.set_media(media)
            media.thumbnailReady.connect(self._on_thumbnail)
            media.thumbnailFailed.connect(self._on_thumbnail)
        #: Opens links outside the app; tests put a recorder here.
        self.url_opener: UrlOpener = QDesktopServices.openUrl
        #: Asks where to save a file (the platform's save dialog, which confirms overwriting).
        self.save_path_chooser: SavePathChooser = self._ask_save_path
        self.viewer: QWidget | None = None

        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setMouseTracking(True)
        self.verticalScrollBar().setSingleStep(24)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.DefaultContextMenu)
        conversation.modelReset.connect(self._on_model_reset)
        conversation.hasOlderChanged.connect(self._on_has_older_changed)
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self._ready = True

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

    @Slot(bool)
    def _on_has_older_changed(self, _value: bool) -> None:
        self._older_timer.start()

    # Hooks and handlers -----------------------------------------------------------------
    def _rows_changed(self) -> None:
        if self._ready:
            self._update_tick()

    def _laid_out(self) -> None:
        if self._ready:
            self._older_timer.start()

    @Slot()
    def _on_model_reset(self) -> None:
        self._older_pending = False

    @Slot(int)
    def _on_scrolled(self, _value: int) -> None:
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

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._older_timer.start()
        self._watch_window()
        self._update_tick()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._update_tick()

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
