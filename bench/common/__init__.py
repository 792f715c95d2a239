"""Helpers the benchmark scripts share: RESULTS.md sections (``results``), synthetic photos and
vectors (``synthetic_photos``, ``synthetic_vectors``), FAISS recall/latency probes (``search_probes``)
and the indexing benchmarks' markdown tables (``tables``)."""
