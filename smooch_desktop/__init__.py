"""Smooch Desktop: send manual replies to the end users of a Smooch app."""

from smooch_desktop.appinfo import VERSION as __version__

__all__ = ["__version__"]
