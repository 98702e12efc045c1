"""Application identity, set on the QApplication before any QSettings is created."""

NAME = "Smooch Desktop"
#: Used for QSettings, data directories and the keychain service name.
APP_ID = "smooch-desktop"
ORGANIZATION = "Smooch Desktop"
ORGANIZATION_DOMAIN = "smoochdesktop.github.io"
#: Reverse-DNS id: the .desktop file name (without suffix) and the AppStream id.
DESKTOP_FILE_ID = "io.github.smoochdesktop.SmoochDesktop"
VERSION = "0.1.0"
KEYRING_SERVICE = "smooch-desktop"
