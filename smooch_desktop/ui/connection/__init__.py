"""The connection dialog and what it is made of: profiles of host, app and API key.

* :mod:`.messages` — why a connection test failed, as a sentence (Qt-free);
* :mod:`.form` — one profile's form values and their validation (Qt-free);
* :mod:`.secret_saver` — the plan for storing secrets on Save, run on the keychain
  thread (Qt-free);
* :mod:`.probe` — the connection test's one request, run on a worker thread (Qt-free);
* :mod:`.widgets` — the painted eye icon and the error label under a field;
* :mod:`.dialog` — :class:`~smooch_desktop.ui.connection.dialog.ConnectionDialog` itself.

This file imports nothing: the Qt-free modules above must stay importable without Qt.
"""
