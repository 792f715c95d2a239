"""A small typed HTTP client for the retrieval service; the UI's only way to reach the model.

``SERVICE_URL`` is read once, from ``LODISC_SERVICE_URL``, and ``SERVICE_KEY`` from
``LODISC_SERVICE_KEY`` (sent as ``X-API-Key`` where the service sets ``LODISC_READ_API_KEY``).
Every failure becomes a
:class:`ServiceError` whose message is fit to show on the page: the service's JSON ``detail`` for
an error answer, or "service unreachable at URL" when nothing answers.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

DEFAULT_SERVICE_URL = "http://localhost:8000"
SERVICE_URL = os.environ.get("LODISC_SERVICE_URL", DEFAULT_SERVICE_URL).rstrip("/")
SERVICE_KEY = os.environ.get("LODISC_SERVICE_KEY") or None
# Explanations cost extra encoder calls per hit, so a search may take seconds on a CPU.
TIMEOUT = httpx.Timeout(60.0, connect=5.0)

JSON = dict[str, Any]
Box = tuple[float, float, float, float]


class ServiceError(Exception):
    """A request the service refused or that never reached it.

    Attributes:
        message: text for the page (the service's ``detail`` or why it is unreachable).
        status_code: the HTTP status, or None when the service did not answer.
    """

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def error_detail(response: httpx.Response) -> str:
    """The ``detail`` of an error answer as one line (FastAPI's 422 gives a list of problems)."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):
        detail = "; ".join(_describe_problem(p) for p in detail)
    if not detail:
        detail = response.text.strip()[:300] or response.reason_phrase
    return f"{detail} (HTTP {response.status_code})"


def _describe_problem(problem: Any) -> str:
    """One validation problem of a FastAPI 422 as "field: message"."""
    if not isinstance(problem, dict):
        return str(problem)
    where = ".".join(str(p) for p in problem.get("loc", [])[1:])
    return f"{where}: {problem.get('msg', '')}" if where else str(problem.get("msg", problem))


def label_counts(raw: Any) -> list[tuple[str, int]]:
    """``labels`` of ``GET /items`` as (label, count) pairs, from objects or pairs."""
    pairs = []
    for entry in raw or []:
        if isinstance(entry, dict):
            pairs.append((str(entry["label"]), int(entry["count"])))
        else:
            pairs.append((str(entry[0]), int(entry[1])))
    return pairs


def search_params(
    k: int, explain: bool, label: str | None, offset: int, min_score: float | None = None
) -> dict[str, Any]:
    """Query parameters shared by ``/search`` and ``/items/{id}/similar``."""
    params: dict[str, Any] = {"k": k, "explain": explain, "inline": False}
    if label is not None:
        params["label"] = label
    if offset:
        params["offset"] = offset
    if min_score is not None:
        params["min_score"] = min_score
    return params


class ServiceClient:
    """Calls the service's HTTP API; one pooled connection per process (under cache_resource).

    Args:
        base_url: the service root, e.g. ``http://api:8000``.
        transport: an httpx transport (tests pass ``httpx.MockTransport``).
        api_key: sent as ``X-API-Key`` on every request (None: no header).
    """

    def __init__(
        self,
        base_url: str = SERVICE_URL,
        transport: httpx.BaseTransport | None = None,
        api_key: str | None = SERVICE_KEY,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url, timeout=TIMEOUT, transport=transport, headers=headers
        )

    def url(self, path: str) -> str:
        """Absolute URL of a path the service returned (``/items/7/image``); URLs pass through."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def item_image_url(self, item_id: int) -> str:
        """Absolute URL of a gallery item's image."""
        return self.url(f"/items/{item_id}/image")

    def search(
        self,
        image_bytes: bytes,
        filename: str,
        k: int,
        explain: bool = True,
        box: Box | None = None,
        label: str | None = None,
        offset: int = 0,
        min_score: float | None = None,
    ) -> JSON:
        """Search the gallery by an uploaded image (``POST /search``), or by its ``box`` region
        (x0, y0, x1, y1 in the image's pixels), among ``label``'s items scoring at least
        ``min_score``, from rank ``offset``."""
        files = {"image": (filename, image_bytes, "application/octet-stream")}
        params = search_params(k, explain, label, offset, min_score)
        if box is not None:
            params["box"] = ",".join(f"{v:g}" for v in box)
        return self._json("POST", "/search", params=params, files=files)

    def similar(
        self,
        item_id: int,
        k: int,
        explain: bool = True,
        label: str | None = None,
        offset: int = 0,
        min_score: float | None = None,
    ) -> JSON:
        """Items most like a gallery item (``GET /items/{id}/similar``)."""
        params = search_params(k, explain, label, offset, min_score)
        return self._json("GET", f"/items/{item_id}/similar", params=params)

    def labels(self) -> list[tuple[str, int]]:
        """Every label of the gallery with its item count."""
        return self.items(0, 1)["labels"]

    def items(self, offset: int, limit: int, label: str | None = None) -> JSON:
        """A page of gallery items, the total matching and ``labels`` as (label, count) pairs."""
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if label is not None:
            params["label"] = label
        page = self._json("GET", "/items", params=params)
        page["labels"] = label_counts(page.get("labels"))
        return page

    def fetch(self, path: str) -> bytes:
        """Bytes at a path or URL of the service (item images, overlays)."""
        return self._request("GET", self.url(path)).content

    def health(self) -> JSON:
        """Liveness (``GET /healthz``)."""
        return self._json("GET", "/healthz")

    def status(self) -> JSON:
        """What is served (``GET /readyz``); a 503 raises with the reason."""
        return self._json("GET", "/readyz")

    def _json(self, method: str, path: str, **kwargs: Any) -> JSON:
        """The JSON object a request answers."""
        response = self._request(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError as err:
            raise ServiceError(
                f"{path} did not answer JSON: is {self.base_url} the service?"
            ) from err
        if not isinstance(body, dict):
            raise ServiceError(f"{path} answered {type(body).__name__}, not a JSON object")
        return body

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request; any failure becomes a ServiceError."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as err:
            raise ServiceError(f"the service at {self.base_url} timed out ({err})") from err
        except httpx.TransportError as err:
            raise ServiceError(f"service unreachable at {self.base_url} ({err})") from err
        if response.is_error:
            raise ServiceError(error_detail(response), response.status_code)
        return response
