"""LoDisc pretraining, evaluation and ONNX export entry points."""
