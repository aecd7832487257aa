"""The Kafka side: where records come off the cluster, and the topics the connector needs.

``source`` wraps the one consumer (group membership, pause reasons, rebalance callbacks, lag
statistics); ``records`` is the message seam (the ``KafkaMessage`` Protocol) and the copy a
failed record keeps; ``topics`` checks and creates the retry and dead-letter topics at start;
``produce`` is the waiting produce helper of the one-shot commands.
"""

__all__ = ["produce", "records", "source", "topics"]
