"""The published index format: folder layout, manifest, catalog schema, FAISS vectors."""
