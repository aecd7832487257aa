"""Offsets: which records are resolved, and the one place that commits.

``tracker`` keeps, per assigned partition, the first offset not yet resolved; ``commit`` is the
``Committer``, the only code that calls the consumer's commit (every ``COMMIT_INTERVAL``, on
revocation, at shutdown).
"""

__all__ = ["commit", "tracker"]
