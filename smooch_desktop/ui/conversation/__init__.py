"""The conversation pane: messages and outbox entries shown as chat bubbles."""
