"""One sync pass of one adapter: read what changed, evaluate, reconcile, apply, record.

- ``syncer``: ``Syncer``, a tracker's passes, and the invariants they keep
- ``claims``: tickets taken from the store's work list, a pass's own or one shared by replicas
- ``workers``: a pass's tickets handed to a few threads, never one ticket to two
- ``budget``: a tracker's rate budget kept by every replica at once
- ``summary``: what a pass did, said for people (``SyncSummary``, a dry run's digest)
"""

from .summary import SyncSummary, describe, digest, summarize, unprefixed
from .syncer import MAX_FAILED_WRITES, MAX_ROUNDS, Syncer, WriteDeferred, as_of

__all__ = ["MAX_FAILED_WRITES", "MAX_ROUNDS", "SyncSummary", "Syncer", "WriteDeferred", "as_of", "describe", "digest",
           "summarize", "unprefixed"]
