"""Gallery indexer: embeds an image folder into a FAISS index with SQLite metadata."""
