"""The conversation view's geometry: where each message sits, laid out one run at a time.

:class:`RowView` is a ``QListView`` (screen readers get its rows as list items) that
places its rows itself through :class:`~.row_layout.RowLayout`, one column as wide as the
viewport, instead of through ``QListView``'s private layout, which measures every row
again on any insert (~40 ms for 10,000 messages). A row that comes, goes or changes
height is measured alone and the rows below it move; a new message at the bottom scrolls
the pixels and is the only row drawn. It keeps the reader's place (the message at the top
of the viewport, or the bottom) across those changes, relayouts and resizes. A whole
layout (a reset, a re-wrap, a font change, a big insert) with thousands of rows measures
what is on screen, estimates the rest and measures it exactly while idle.

Heights come from :class:`~.delegate.MessageDelegate`, rows from
:class:`~.model.ConversationModel`. What a message does when clicked, its menus and the
placeholder are :mod:`.view`'s: this module knows rows only as rectangles.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import (
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QPainter, QPaintEvent, QRegion, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyleOptionViewItem,
    QWidget,
)

from smooch_desktop.ui.conversation.delegate import MessageDelegate
from smooch_desktop.ui.conversation.model import ConversationModel, bulk_allocation
from smooch_desktop.ui.conversation.row_layout import RowLayout
from smooch_desktop.ui.focus_ring import RING_WIDTH, FocusRing

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


class RowView(QListView):
    """Lays out and paints the rows of a :class:`ConversationModel`, keeping the reader's
    place; the conversation view builds on it.

    Subclasses hear of changes through two hooks: :meth:`_rows_changed` (rows came, went
    or changed) and :meth:`_laid_out` (a whole layout finished).

    Signals:
        atBottomChanged(bool): the newest row came into view (True) or left it (False),
            by scrolling, resizing or rows arriving (:meth:`is_at_bottom`).
    """

    atBottomChanged = Signal(bool)

    def __init__(
        self, model: ConversationModel, delegate: MessageDelegate, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._conversation = model
        self._delegate = delegate
        self._rows = RowLayout()
        self._dirty = True
        self._anchor: _Anchor | None = None
        self._at_bottom = True
        self._estimate_next = False
        self._refine_row = -1
        self._refine_timer = QTimer(self)
        self._refine_timer.setInterval(0)
        self._refine_timer.timeout.connect(self._refine_step)
        self._rewrap_timer = QTimer(self)
        self._rewrap_timer.setSingleShot(True)
        self._rewrap_timer.setInterval(_REWRAP_DELAY_MS)
        self._rewrap_timer.timeout.connect(self._on_rewrap)
        FocusRing(self)  # the style draws no focus for a list view: a Tab stop must show it
        self._keep_ring_off_viewport()
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setModel(model)
        self.setItemDelegate(delegate)
        model.rowsAboutToBeInserted.connect(self._on_rows_about_to_change)
        model.rowsAboutToBeRemoved.connect(self._on_rows_about_to_change)
        model.modelAboutToBeReset.connect(self._on_about_to_reset)
        model.modelReset.connect(self._on_reset)
        model.rowsRemoved.connect(self._on_rows_removed)
        model.layoutAboutToBeChanged.connect(self._capture_anchor)
        model.layoutChanged.connect(self._on_layout_changed)
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_rows_scrolled)
        bar.rangeChanged.connect(self._check_at_bottom)

    # Hooks ----------------------------------------------------------------------------------
    def _rows_changed(self) -> None:
        """Rows came, went or changed (after they were placed)."""

    def _laid_out(self) -> None:
        """A whole layout finished."""

    # Geometry (QAbstractItemView) ---------------------------------------------------------
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

    def is_at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - _PIN_SLACK

    @Slot()
    def scroll_to_latest(self) -> None:
        self._ensure_layout()
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    # Anchoring and whole layouts --------------------------------------------------------
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
        self._laid_out()

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
        self._rows.clear()
        self._schedule_layout()
        self._rows_changed()

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
            pass  # a list model's rows have no children
        elif count >= _PROGRESSIVE_INSERT:
            self._estimate_next = True
            self._schedule_layout()
        elif not self._incremental(len(self._conversation) - count):
            self._schedule_layout()
        else:
            with bulk_allocation():
                rows.insert(first, [self._height_of(row) for row in range(first, last + 1)])
            after = last + 1
            if after < len(rows):
                rows.set_heights({after: self._height_of(after)})
            self._placed(first)
        QAbstractItemView.rowsInserted(self, parent, first, last)
        self._rows_changed()

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
        self._rows_changed()

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
        self._rows_changed()

    # Scrolling, resizing, painting ------------------------------------------------------
    @Slot()
    def _check_at_bottom(self) -> None:
        at_bottom = self.is_at_bottom()
        if at_bottom != self._at_bottom:
            self._at_bottom = at_bottom
            self.atBottomChanged.emit(at_bottom)

    @Slot(int)
    def _on_rows_scrolled(self, _value: int) -> None:
        self._check_at_bottom()
        if self._refine_timer.isActive() and self._visible_rows_estimated():
            self._finish_measuring()  # the reader outran the idle-time measuring

    @Slot()
    def _on_rewrap(self) -> None:
        if self._delegate.text_limit_for(self._wrap_width()) != self._delegate.text_limit:
            self._capture_anchor()
            self.doItemsLayout()

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
