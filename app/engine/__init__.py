"""The engine: the TensorFlow processes of the dashboard and the web side's handle on them.

- ``client``: :class:`Engine` starts and supervises the engine processes (one per lane) and
  calls them; used in the web process, its job threads and Celery workers. No TensorFlow.
- ``protocol``: the typed messages, the handshake, which lane serves which operation.
- ``results``: the typed results that cross the boundary and go into the cache (numpy only).
- ``server``: the engine process itself (``python -m app.engine.server``), with
  ``registry`` (long jobs and their watchers), ``ops`` (the operations) and ``analyses``
  (the Insight analyses): these run only inside an engine process.
"""

from .client import Engine, EngineCancelled, EngineError, EngineStopped

__all__ = ["Engine", "EngineCancelled", "EngineError", "EngineStopped"]
