"""The conversation's scrolling view: keeps the reader's place in a long history.

:class:`ConversationView` anchors the viewport on a message across inserts, removals,
relayouts and resizes, stays pinned to the bottom when it was there, and asks for older
history once per page when scrolled near the top. With thousands of rows it measures
what is on screen, estimates the rest and measures it exactly while idle. It turns
clicks on a bubble's links and its context menu into request signals.

Rows come from :mod:`.model`; their sizes and pixels from :mod:`.delegate`. This module
holds no drawing of bubbles and no row data of its own.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    QRect,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QAction,
    QContextMenuEvent,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QShowEvent,
)
from PySide6.QtWidgets import QAbstractItemView, QListView, QMenu, QStyle, QWidget

from smooch_desktop.core.outbox import EntryState
from smooch_desktop.ui.conversation.delegate import ImageLookup, MessageDelegate
from smooch_desktop.ui.conversation.model import ConversationModel, bulk_allocation

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
