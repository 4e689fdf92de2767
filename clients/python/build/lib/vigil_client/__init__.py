"""Client for Vigil's log anomaly detection REST API (``vigil serve``), standard library only.

    client = AnomalyDetectionClient(base_url="http://localhost:8000", token=None)
    client.health_check()
    client.load_models(model_dir="anomaly_outputs")
    result = client.analyze_logs(logs)
    print(f"Detected {result['anomalies_detected']} anomalies")
"""

import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
import uuid

__all__ = [
    "AnomalyDetectionClient",
    "VigilError",
    "VigilConnectionError",
    "AuthenticationError",
    "ForbiddenError",
    "NotFoundError",
    "InvalidRequestError",
    "RequestTooLargeError",
    "RateLimitError",
    "ServiceUnavailableError",
]

__version__ = "1.0.0"


class VigilError(Exception):
    """An error answer of the API: ``status`` (HTTP), ``code`` (stable name) and ``message``."""

    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class VigilConnectionError(VigilError):
    """Nothing answered (server down, wrong address, timeout)."""

    def __init__(self, message):
        super().__init__(0, "connection_failed", message)


class AuthenticationError(VigilError):
    """401: a bearer token is missing or not accepted."""


class ForbiddenError(VigilError):
    """403: e.g. a model directory outside the allowed roots."""


class NotFoundError(VigilError):
    """404: no such endpoint, model directory or context."""


class InvalidRequestError(VigilError):
    """400, 415 or 422: the request was malformed; ``message`` says which field and why."""


class RequestTooLargeError(VigilError):
    """413: the body, upload or number of events is over the server's limit."""


class RateLimitError(VigilError):
    """429: too many requests; retry after ``retry_after`` seconds."""

    def __init__(self, status, code, message, retry_after=None):
        super().__init__(status, code, message)
        self.retry_after = retry_after


class ServiceUnavailableError(VigilError):
    """503: no model loaded yet, or the analysis took longer than the request timeout."""


_ERRORS = {
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    400: InvalidRequestError,
    415: InvalidRequestError,
    422: InvalidRequestError,
    413: RequestTooLargeError,
    503: ServiceUnavailableError,
}


class AnomalyDetectionClient:
    """Talks to ``vigil serve`` at ``base_url``; ``token`` is sent as a bearer token if given."""

    def __init__(self, base_url="http://localhost:8000", token=None, timeout=60.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    # -- endpoints ---------------------------------------------------------------------------

    def health_check(self):
        """``GET /health``: status, whether a model is loaded, versions, uptime."""
        return self._request("GET", "/health")

    def is_ready(self):
        """True when ``GET /health/ready`` answers 200 (a model is loaded)."""
        try:
            self._request("GET", "/health/ready")
            return True
        except ServiceUnavailableError:
            return False

    def load_models(self, model_dir="anomaly_outputs"):
        """``POST /models/load``: loads (or reloads) a model directory written by ``vigil train``."""
        return self._request("POST", "/models/load", json_body={"model_dir": model_dir})

    def analyze_logs(self, logs, context=None):
        """``POST /analyze``. ``logs`` is a list of events (dicts) or a string of raw log lines.

        With ``context`` the server keeps the detectors' state across calls under that name, so
        a log sent in chunks gives the anomalies of one big call. Returns the response dict:
        ``result['anomalies_detected']``, ``result['anomalies']``, ``result['errors']``, …
        """
        if not isinstance(logs, (list, tuple, str)):
            raise TypeError("logs must be a list of events (dicts) or a string of log lines")
        body = {"logs": list(logs) if isinstance(logs, tuple) else logs}
        if context is not None:
            body["context"] = context
        return self._request("POST", "/analyze", json_body=body)

    def analyze_file(self, path):
        """``POST /analyze/file``: uploads a log file (JSON array, NDJSON, raw lines; gzip too)."""
        with open(path, "rb") as f:
            content = f.read()
        boundary = "vigil-" + uuid.uuid4().hex
        name = os.path.basename(path).replace('"', "_")
        body = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
        return self._request(
            "POST", "/analyze/file", body=body, content_type=f"multipart/form-data; boundary={boundary}"
        )

    def get_stats(self):
        """``GET /stats``: events analysed, anomalies by detector and severity, requests, cache."""
        return self._request("GET", "/stats")

    def list_contexts(self):
        """``GET /contexts``: the names of the contexts the server keeps."""
        return self._request("GET", "/contexts")["contexts"]

    def delete_context(self, name):
        """``DELETE /contexts/{name}``: forgets a context's state."""
        self._request("DELETE", "/contexts/" + urllib.parse.quote(name, safe=""))

    # -- transport ---------------------------------------------------------------------------

    def _request(self, method, path, json_body=None, body=None, content_type=None):
        headers = {"Accept": "application/json"}
        if json_body is not None:
            body = json.dumps(json_body).encode("utf-8")
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.base_url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data = response.read()
        except urllib.error.HTTPError as error:
            raise self._error(error) from None
        except (urllib.error.URLError, socket.timeout, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise VigilConnectionError(f"cannot reach {self.base_url}: {reason}") from None
        if not data:
            return None
        return json.loads(data)

    @staticmethod
    def _error(error):
        code, message = "http_error", error.reason
        try:
            detail = json.loads(error.read()).get("error", {})
            code, message = detail.get("code", code), detail.get("message", message)
        except (ValueError, AttributeError):
            pass
        if error.code == 429:
            retry = error.headers.get("Retry-After")
            return RateLimitError(error.code, code, message, int(retry) if retry and retry.isdigit() else None)
        return _ERRORS.get(error.code, VigilError)(error.code, code, message)
