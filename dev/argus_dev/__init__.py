"""Argus Streams' development package: the local stack, the demo, sample and poison events, fault injection."""
