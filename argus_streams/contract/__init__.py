"""The event contract: `ArgusEvent`, the topic catalog, the payload of each event type."""
