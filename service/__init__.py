"""The retrieval service: FastAPI app over the ONNX encoder and the published FAISS index."""
