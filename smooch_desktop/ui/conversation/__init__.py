"""The conversation pane: messages and outbox entries shown as chat bubbles.

Built for long histories (10,000 messages and more). One module per job, leaves first:

* :mod:`.items` — :class:`~.items.ConversationItem` (one row: a server message or a
  local outbox entry) and the row flags (new day, first of a group). Qt-free.
* :mod:`.text_layout` — the word-wrap engine (greedy, cached word widths, prefix sums).
  Qt-free: it measures through a function it is given.
* :mod:`.model` — :class:`~.model.ConversationModel`, the list model: sorted rows,
  minimal inserts/removes, a server copy replacing the local one.
* :mod:`.fonts` — :class:`~.fonts.FontWrapper`, the wrap engine measuring with a QFont.
* :mod:`.bubbles` — what a bubble looks like: its metrics (the shape of a row for a
  wrap width, where each part goes), its colours, and the code that paints it.
* :mod:`.delegate` — :class:`~.delegate.MessageDelegate`, the item delegate: caches of
  heights and shapes, image sizes, Qt's ``sizeHint``/``paint`` entry points.
* :mod:`.view` — :class:`~.view.ConversationView`, the scrolling list: keeps the reader's
  place, loads older pages, measures long histories while idle, links and context menu.

This file imports nothing: importing a Qt-free module of the package must not pull in
Qt, and the main window imports the view only after its first paint.
"""
