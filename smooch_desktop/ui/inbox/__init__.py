"""The conversation list beside the conversation (issue 12, item 1).

* :mod:`.model` holds the list model and the delegate that paints a row (avatar, name or
  ID, last message preview, time, unread count, the outbox's queued/failed icon);
* :mod:`.poller` polls the followed conversations but the open one, one request at a
  time on the API queue, as :class:`~smooch_desktop.core.poll_budget.PollScheduler`
  decides;
* :mod:`.pane` is the widget in the window (filter field, list, context menu) and what
  ties it to the window, the store and the outbox.

What the list holds, and the rules of reading and unread counts, live in the Qt-free
:mod:`smooch_desktop.core.inbox`; when to poll in :mod:`smooch_desktop.core.poll_budget`
(docs/architecture.md#qt-free-core). This package must not hold either.
"""
