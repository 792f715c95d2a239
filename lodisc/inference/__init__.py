"""Serving runtime without torch: image decoding, eval preprocessing, the ONNX encoder."""
