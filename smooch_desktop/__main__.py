"""``python -m smooch_desktop``: start the desktop app."""

import sys

from smooch_desktop.app import main

if __name__ == "__main__":
    sys.exit(main())
