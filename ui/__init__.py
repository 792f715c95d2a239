"""Streamlit UI for the retrieval service: HTTP only, never the model (``streamlit run ui/app.py``)."""
