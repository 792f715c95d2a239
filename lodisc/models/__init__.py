"""Model definitions: the encoder (defined once), heads, attention rows and the LoDisc wrapper."""
