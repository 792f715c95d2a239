"""Service settings from ``LODISC_*`` environment variables or a ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class Settings(BaseSettings):
    """Everything the service reads from its environment; never instantiated at import time.

    List fields take JSON in the environment, e.g. ``LODISC_CORS_ORIGINS='["https://ui.example"]'``.
    """

    model_config = SettingsConfigDict(env_prefix="LODISC_", env_file=".env", extra="ignore")

    model_path: Path = Field(description="the ONNX file written by training/export_onnx.py")
    index_dir: Path = Field(description="the folder written by indexer/build_index.py")
    api_key: SecretStr | None = Field(None, description="admin key; unset disables /admin")
    read_api_key: SecretStr | None = Field(
        None, description="key to search and browse (the admin key works too); unset: open"
    )
    device: str = "auto"
    threads: int = Field(0, ge=0, description="ONNX Runtime intra-op threads (0: its default)")
    # FAISS's OpenMP team wakes every core for one query, then waits for the encoder's busy
    # threads: 40 ms per search on a loaded 2-core machine, 0.7 ms with one thread.
    search_threads: int = Field(1, ge=0, description="FAISS OpenMP threads (0: its default)")
    # The same for numpy's BLAS pool: after the coverage lookup's 16 x 8192 product its threads
    # spin, and the next encoder call waits for them: +2.4 ms a search at one client (wrk).
    blas_threads: int = Field(1, ge=0, description="numpy BLAS threads (0: its default)")
    max_k: int = Field(50, ge=1)
    max_bytes: int = Field(20 * MIB, ge=1, description="largest accepted image file")
    max_pixels: int = Field(40_000_000, ge=1, description="largest accepted width * height")
    max_images: int = Field(16, ge=1, description="images per /search/batch request")
    max_batch: int = Field(8, ge=1, description="encoder micro-batch size")
    max_wait_ms: float = Field(2.0, ge=0.0, description="longest wait for a batch to fill")
    max_queue: int = Field(64, ge=1, description="queued images beyond which requests get 429")
    decode_memory_mb: int = Field(
        512, ge=16, description="memory of the decodes running at once (MiB); more wait their turn"
    )
    decode_timeout_s: float = Field(
        10.0, gt=0.0, description="longest decode of one image, waiting for memory included"
    )
    max_jpeg_scans: int = Field(64, ge=1, description="scans of one JPEG (progressive: ~10)")
    max_jpeg_segments: int = Field(1024, ge=8, description="marker segments of one JPEG")
    max_png_chunks: int = Field(10_000, ge=3, description="chunks of one PNG")
    max_client_requests: int = Field(
        4, ge=1, description="searches one client address may have running at once (429 over)"
    )
    max_client_images: int = Field(
        32, ge=1, description="images one client address may hold in the encoder queue"
    )
    header_timeout_s: float = Field(
        10.0, gt=0.0, description="time to send a request's headers (python -m service only)"
    )
    body_timeout_s: float = Field(
        30.0, gt=0.0, description="longest wait for the next piece of a request body (408)"
    )
    host: str = Field("127.0.0.1", description="python -m service: address to listen on")
    port: int = Field(8000, ge=0, le=65535, description="python -m service: port")
    workers: int = Field(1, ge=1, description="python -m service: worker processes on one socket")
    watch_interval_s: float = Field(
        0.0, ge=0.0, description="reload when the manifest's generation changes (0: off)"
    )
    vector_store: str = Field(
        "faiss", description="faiss, or the Milvus store the index was published to"
    )
    cors_origins: list[str] = Field(default_factory=list)
    overlay_alpha: float = Field(0.55, ge=0.0, le=1.0, description="heatmap opacity")
    overlay_max_side: int = Field(1024, ge=16, description="overlays are scaled down to this")
    explain_cache_items: int = Field(128, ge=0, description="gallery items' explain outputs kept")
    correspondences: int = Field(5, ge=1, description="patch pairs returned per hit")
    match_keep_ratio: float = Field(
        0.3, gt=0.0, le=1.0, description="share of the query's pivotal patches in match maps"
    )
    calibration_sample: int = Field(
        2000, ge=0, description="gallery items sampled to calibrate scores (0: no calibration)"
    )
    none_quantile: float = Field(
        0.01, ge=0.0, le=1.0, description="'none' below this quantile of in-gallery similarities"
    )
    none_margin: float = Field(0.02, ge=0.0, description="cosine margin below none_quantile")
    strong_quantile: float = Field(
        0.25, ge=0.0, le=1.0, description="'strong' from this quantile of in-gallery similarities"
    )
    duplicate_score: float = Field(0.995, ge=0.0, le=1.0, description="duplicate from this cosine")
    allow_url_fetch: bool = Field(False, description="accept image_url in /search (fetches it)")
    url_fetch_timeout_s: float = Field(10.0, gt=0, description="time limit of one URL fetch")
    ui_url: str = Field("http://localhost:8501", description="the web UI, linked from /")
    rerank: bool = Field(False, description="re-rank the top candidates by pivotal tokens")
    rerank_candidates: int = Field(100, ge=1, description="candidates re-ranked (R)")
    rerank_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="weight of the local (MaxSim) score in re-ranking"
    )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once on first use."""
    return Settings()  # type: ignore[call-arg]  # required fields come from the environment
