"""The Kafka client side: the producer gateway and its breaker, topic admin, consumer lag, files of events."""
