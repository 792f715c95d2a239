"""Harness shared by the reliability tests and the benchmarks: it drives the real code from outside.

- ``random_model``: a random-init encoder checkpoint exported to ONNX (no training: seconds).
- ``live_server``: a real ``uvicorn service.main:app`` process on loopback.
- ``search_load``: concurrent ``POST /search`` clients and their figures.
- ``fault_injection``: ``kill -9`` at a chosen moment, damaged files, a full disk (tmpfs);
  ``fault_indexer``, ``fault_training``, ``fault_files``, ``fault_reload``: the scenarios built on it.

tests/ and bench/ both import from here; nothing here imports either of them.
"""
