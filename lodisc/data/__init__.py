"""Image data: train/test image folders and the synthetic fine-grained generator."""
