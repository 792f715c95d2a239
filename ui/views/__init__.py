"""One module per page of the UI, each with a ``render_*(api)`` function."""
