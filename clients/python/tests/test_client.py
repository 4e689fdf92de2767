"""The client against a live ``vigil serve`` (started by the Swift test that runs this file):
VIGIL_URL points at it; VIGIL_MODEL_DIR is a trained model inside its roots; VIGIL_TOKEN is the
token it accepts (set for the authenticated server only)."""

import gzip
import os
import tempfile
import unittest

from vigil_client import (
    AnomalyDetectionClient,
    AuthenticationError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    RequestTooLargeError,
    VigilConnectionError,
)

URL = os.environ["VIGIL_URL"]
TOKEN = os.environ.get("VIGIL_TOKEN")
BRUTE = [
    {"timestamp": f"2026-11-30T10:00:{i:02d}Z", "event_type": "login_failed", "user": "root",
     "source_ip": "203.0.113.7", "host": "web1"}
    for i in range(10)
]


class ClientTests(unittest.TestCase):
    def setUp(self):
        self.client = AnomalyDetectionClient(base_url=URL, token=TOKEN)

    def test_health_and_stats(self):
        health = self.client.health_check()
        self.assertEqual(health["status"], "ok")
        self.assertTrue(health["model_loaded"])
        self.assertTrue(self.client.is_ready())
        self.assertIn("events_analyzed", self.client.get_stats())

    def test_load_models(self):
        loaded = self.client.load_models(model_dir=os.environ["VIGIL_MODEL_DIR"])
        self.assertEqual(loaded["model"]["kind"], "trained")
        with self.assertRaises(NotFoundError):
            self.client.load_models(model_dir=os.environ["VIGIL_MODEL_DIR"] + "-missing")
        with self.assertRaises(ForbiddenError):
            self.client.load_models(model_dir="/")

    def test_analyze_events_lines_and_file(self):
        result = self.client.analyze_logs(BRUTE)
        self.assertGreaterEqual(result["anomalies_detected"], 1)
        self.assertEqual(result["anomalies_detected"], len(result["anomalies"]))
        self.assertIn("brute_force", {a["detector"] for a in result["anomalies"]})
        lines = "\n".join(
            f"Nov 30 10:00:0{i} web1 sshd[4{i}]: Failed password for root from 203.0.113.8 port 4{i}22 ssh2"
            for i in range(10)
        )
        self.assertGreaterEqual(self.client.analyze_logs(lines)["anomalies_detected"], 1)
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "auth.log.gz")
            with gzip.open(path, "wt") as f:
                f.write(lines + "\n")
            uploaded = self.client.analyze_file(path)
            self.assertEqual(uploaded["events_analyzed"], 10)
            self.assertGreaterEqual(uploaded["anomalies_detected"], 1)

    def test_context_chunks(self):
        whole = self.client.analyze_logs(BRUTE)
        chunked = []
        for start in range(0, len(BRUTE), 3):
            chunked += self.client.analyze_logs(BRUTE[start:start + 3], context="py-chunks")["anomalies"]
        self.assertEqual(sorted(a["id"] for a in chunked), sorted(a["id"] for a in whole["anomalies"]))
        self.assertIn("py-chunks", self.client.list_contexts())
        self.client.delete_context("py-chunks")
        with self.assertRaises(NotFoundError):
            self.client.delete_context("py-chunks")

    def test_typed_errors(self):
        with self.assertRaises(InvalidRequestError) as raised:
            self.client._request("POST", "/analyze", json_body={"logz": []})
        self.assertEqual(raised.exception.code, "unknown_field")
        self.assertEqual(raised.exception.status, 422)
        with self.assertRaises(TypeError):
            self.client.analyze_logs(5)
        with self.assertRaises(RequestTooLargeError):
            self.client.analyze_logs("x\n" * 300_000)
        with self.assertRaises(VigilConnectionError):
            AnomalyDetectionClient(base_url="http://127.0.0.1:9", timeout=2).health_check()
        if TOKEN:
            with self.assertRaises(AuthenticationError):
                AnomalyDetectionClient(base_url=URL, token="wrong").get_stats()


if __name__ == "__main__":
    unittest.main()
