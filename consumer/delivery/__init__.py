"""Delivery: batches of encoded events to the TikTok Events API, and what the answer means.

``base`` holds the values and the ``Sender`` Protocol; ``sender`` is the ``HttpSender`` (one
pooled httpx client, retries, isolation of rejected events); ``answers`` is TikTok's answer
table; ``post`` (one POST: on ``wire``'s own keep-alive sockets, or through httpx when a proxy
applies), ``backoff``, ``ratelimit`` and ``abortable`` (sockets shut down at close) serve it;
``pool`` is the sender threads; ``destination`` the state of the destination and its probe.
"""

__all__ = [
    "abortable",
    "answers",
    "backoff",
    "base",
    "destination",
    "pool",
    "post",
    "ratelimit",
    "sender",
    "wire",
]
