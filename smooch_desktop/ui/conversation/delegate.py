"""The conversation's item delegate: Qt's sizeHint/paint entry points and their caches.

:class:`MessageDelegate` answers Qt's ``sizeHint`` and ``paint`` for each row. It keeps
what makes 10,000 rows cheap: row heights cached per row content and neighbour flags and
dropped only when the wrap width changes, the shapes of the rows last painted, and the
natural sizes of images that painting has seen. How a bubble is measured and drawn is
:mod:`.bubbles`' job; this module decides what to (re)measure and when.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final, Protocol

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPointF,
    QRect,
    QRectF,
    QSize,
)
from PySide6.QtGui import QFont, QGuiApplication, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from smooch_desktop.ui.conversation.bubbles import (
    BubbleColors,
    BubbleLayout,
    BubblePainter,
    BubbleShape,
)
from smooch_desktop.ui.conversation.items import (
    FLAG_FIRST_IN_GROUP,
    FLAG_STARTS_DAY,
    ConversationItem,
)
from smooch_desktop.ui.conversation.model import ConversationModel, ItemRole
from smooch_desktop.ui.conversation.rich import Target

#: ``lookup(url)``: the loaded pixmap for an avatar or image URL, or None (not loaded yet).
ImageLookup = Callable[[str], "QPixmap | None"]


class MediaSource(Protocol):
    """Where message images come from (:class:`~smooch_desktop.ui.media_loader.MediaLoader`)."""

    def thumbnail(self, url: str) -> QPixmap | None: ...

    def failure(self, url: str) -> str | None: ...


_SHAPE_CACHE: Final = 400
_SIZE_CACHE_MAX: Final = 200_000


class MessageDelegate(QStyledItemDelegate):
    """Sizes and paints the rows of a :class:`ConversationModel` as chat bubbles.

    Measuring and drawing are done by :class:`~.bubbles.BubbleLayout` and
    :class:`~.bubbles.BubblePainter`. ``image_lookup(url)`` returns a loaded pixmap or
    None (the caller then fetches it and calls ``view.refresh_images()``).

    Heights are cached per (key, state, text, error, author, neighbour flags, number of
    actions, image size) for the current wrap width; :meth:`set_layout_width` drops the
    cache when the width changes.
    """

    def __init__(
        self, image_lookup: ImageLookup | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._image_lookup = image_lookup
        self._media: MediaSource | None = None
        self._model: ConversationModel | None = None
        self._layout = BubbleLayout(QGuiApplication.font())
        self._bubbles = BubblePainter(self._layout, QGuiApplication.palette())
        self._layout_width = 600
        self._text_limit = BubbleLayout.text_limit_for(600)
        self._heights: dict[tuple[Any, ...], int] = {}
        self._sizes: dict[int, tuple[ConversationItem, int, QSize]] = {}
        self._shapes: OrderedDict[tuple[Any, ...], BubbleShape] = OrderedDict()
        self._image_sizes: dict[str, tuple[int, int] | None] = {}
        #: Set by the view around a layout that may estimate rows not measured yet.
        self.estimating = False
        self._estimated = 0

    # Configuration ------------------------------------------------------------------------
    def bind_model(self, model: ConversationModel | None) -> None:
        """Read items straight from ``model`` (much faster than going through QVariant)."""
        self._model = model
        self.invalidate()

    def set_image_lookup(self, lookup: ImageLookup | None) -> None:
        self._image_lookup = lookup
        self.invalidate()

    def set_media(self, media: MediaSource | None) -> None:
        """Take message images (thumbnails) from ``media``; avatars stay with the lookup."""
        self._media = media
        self.invalidate()

    def set_base_font(self, font: QFont) -> None:
        """Use ``font`` for message text (smaller variants are derived); drops caches."""
        self._layout.set_font(font)
        self.invalidate()

    def set_palette(self, palette: QPalette) -> None:
        self._bubbles.set_palette(palette)

    @property
    def colors(self) -> BubbleColors:
        return self._bubbles.colors

    def set_layout_width(self, width: int) -> bool:
        """Set the row width text is wrapped for; True if cached heights were dropped."""
        width = max(1, int(width))
        if width == self._layout_width:
            return False
        self._layout_width = width
        limit = BubbleLayout.text_limit_for(width)
        if limit == self._text_limit:
            return False  # wide windows: bubbles are capped, nothing to re-wrap
        self._text_limit = limit
        self._heights.clear()
        self._sizes.clear()
        self._shapes.clear()
        return True

    @staticmethod
    def text_limit_for(width: int) -> int:
        """The text limit :meth:`set_layout_width` would use for ``width``."""
        return BubbleLayout.text_limit_for(width)

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
        """Whether an image that was measured has loaded and changed its row's *height*.

        Image frames have a fixed height (:meth:`.bubbles.BubbleLayout.displayed_image_size`),
        so this is False unless the frame rules change; the new widths are used at the
        next paint (the displayed size is part of the shape cache keys).
        """
        changed = False
        limit = self._text_limit
        for url, used in list(self._image_sizes.items()):
            now = self._image_size(url)
            if now != used:
                before = BubbleLayout.displayed_image_size(used, limit)[1]
                after = BubbleLayout.displayed_image_size(now, limit)[1]
                changed = changed or before != after
                self._image_sizes[url] = now
        return changed

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

    def _look_up(self, url: str) -> QPixmap | None:
        return self._image_lookup(url) if self._image_lookup is not None else None

    def _look_up_media(self, url: str) -> QPixmap | None:
        if self._media is not None:
            return self._media.thumbnail(url)
        return self._look_up(url)

    def _media_failure(self, url: str) -> str | None:
        return self._media.failure(url) if self._media is not None else None

    def thumb(self, url: str) -> tuple[QPixmap | None, str | None]:
        """A card image and, if it can't be shown, why."""
        pixmap = self._look_up_media(url)
        return pixmap, (None if pixmap is not None else self._media_failure(url))

    @staticmethod
    def _natural_size(pixmap: QPixmap | None) -> tuple[int, int] | None:
        if pixmap is None or pixmap.isNull():
            return None
        dpr = pixmap.devicePixelRatio() or 1.0
        return (max(1, round(pixmap.width() / dpr)), max(1, round(pixmap.height() / dpr)))

    def _image_size(self, url: str) -> tuple[int, int] | None:
        return self._natural_size(self._look_up_media(url))

    def _displayed_image(self, item: ConversationItem) -> tuple[int, int] | None:
        if not item.has_image:
            return None
        # Only what painting has seen: measuring never asks for (and so never fetches)
        # the images of the thousands of rows nobody looks at.
        natural = self._image_sizes.get(item.media_url)
        return BubbleLayout.displayed_image_size(natural, self._text_limit)

    def _cache_key(self, item: ConversationItem, flags: int) -> tuple[Any, ...]:
        # Everything a row's shape depends on at a given wrap width (items are immutable).
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

    def _compute_shape(
        self, item: ConversationItem, flags: int, *, with_lines: bool, estimate: bool = False
    ) -> BubbleShape:
        return self._layout.shape(
            item,
            flags,
            text_limit=self._text_limit,
            image=self._displayed_image(item) if item.msg_type == "image" else None,
            with_lines=with_lines,
            estimate=estimate,
        )

    def shape_for(self, item: ConversationItem, flags: int) -> BubbleShape:
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

    def link_rects(self, rect: QRect, item: ConversationItem, flags: int) -> dict[str, QRectF]:
        """Clickable areas ("retry", "edit", "send_now") of a row drawn in ``rect``."""
        return self._layout.link_areas(rect, item, self.shape_for(item, flags))

    def target_at(
        self, rect: QRect, item: ConversationItem, flags: int, point: QPointF
    ) -> Target | None:
        """What a click at ``point`` opens in the row of ``item`` drawn in ``rect``:
        ("url", address), ("image", media URL) or ("save", file URL); None if nothing."""
        return self._layout.target_at(rect, item, self.shape_for(item, flags), point)

    def target_rect(
        self, rect: QRect, item: ConversationItem, flags: int, target: Target
    ) -> QRectF | None:
        """Where the clickable part with ``target`` is in the row (the first one), if any."""
        shape = self.shape_for(item, flags)
        layout = self._layout
        image = layout.image_rect(rect, item, shape)
        if image is not None and target == ("image", item.media_url):
            # Only where a click really opens it (an insecure or odd URL opens nothing).
            return image if layout.target_at(rect, item, shape, image.center()) else None
        bubble = layout.bubble_rect(rect, item, shape)
        top = bubble.top() + layout.text_top(shape)
        for link in shape.text_links:
            if target == ("url", link.url):
                y = top + link.line * layout.body.line_height
                left = bubble.left() + layout.text_left_pad
                return QRectF(left + link.x0, y, link.x1 - link.x0, layout.body.line_height)
        if shape.rich is not None:
            origin = layout.rich_origin(bubble, shape)
            for piece in shape.rich.pieces:
                if piece.target == target:
                    return piece.rect(origin)
        for area, pill in layout.pill_areas(rect, item, shape):
            if pill[3] == target:
                return area
        return None

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
        image = None
        failure = None
        if item.has_image:
            # Looked up before the shape: a thumbnail that just arrived gives the frame its
            # width now (the row's height does not depend on it).
            image = self._look_up_media(item.media_url)
            self._note_image_size(item.media_url, image)
            if image is None:
                failure = self._media_failure(item.media_url)
        shape = self.shape_for(item, flags)
        widget = option.widget
        dpr = (
            widget.devicePixelRatioF()
            if widget is not None
            else painter.device().devicePixelRatioF()
        )
        avatar = None
        if flags & FLAG_FIRST_IN_GROUP and item.avatar_url:
            avatar = self._look_up(item.avatar_url)
        self._bubbles.paint_row(
            painter,
            QRect(option.rect),
            item,
            flags,
            shape,
            selected=bool(option.state & QStyle.StateFlag.State_Selected),
            dpr=dpr,
            avatar=avatar,
            image=image,
            image_failure=failure,
            thumbs=self.thumb,
        )

    def _note_image_size(self, url: str, source: QPixmap | None) -> None:
        """Remember the size of an image being painted (its frame's width follows it)."""
        natural = self._natural_size(source)
        if self._image_sizes.get(url, ()) != natural:
            self._image_sizes[url] = natural
