"""Self-healing of broken UI test locators."""
