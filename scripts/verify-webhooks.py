#!/usr/bin/env python3
"""Verifies captured webhook deliveries with the independent `standardwebhooks` package.

Usage: verify-webhooks.py SECRET FILE — FILE holds a JSON list of {"headers": {...}, "body_base64": "..."}.
Prints one line per delivery; exits 1 if any signature does not verify. A copy of the first delivery
with one body byte changed must fail (the check itself is checked).
"""
import base64
import json
import sys

from standardwebhooks.webhooks import Webhook


def main() -> int:
    secret, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        deliveries = json.load(f)
    hook = Webhook(secret)
    failures = 0
    for index, delivery in enumerate(deliveries):
        headers = {k.lower(): v for k, v in delivery["headers"].items()}
        body = base64.b64decode(delivery["body_base64"])
        try:
            hook.verify(body, headers)
            print(f"{index}: verified {headers['webhook-id']}")
        except Exception as error:  # the library raises WebhookVerificationError
            print(f"{index}: NOT VERIFIED: {error}")
            failures += 1
    if deliveries:
        headers = {k.lower(): v for k, v in deliveries[0]["headers"].items()}
        tampered = bytearray(base64.b64decode(deliveries[0]["body_base64"]))
        tampered[-2] ^= 1
        try:
            hook.verify(bytes(tampered), headers)
            print("tampered body verified: the check is broken")
            failures += 1
        except Exception:
            print("tampered body refused")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
