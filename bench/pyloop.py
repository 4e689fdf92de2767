#!/usr/bin/env python3
"""The hand-rolled baseline of `make bench-stream`: what a team writes instead of Vigil.

  pyloop.py --brokers B --topic T --output O --count N --format json|sshd

A confluent-kafka consumer loop: consume a batch -> parse each record (json.loads, or one regular
expression for sshd's "Failed password" lines) -> Wazuh's brute-force rule (8 failures from one
source within 120 s, then 60 s of suppression) -> produce the alerts -> flush (the alerts are
acknowledged) -> commit the batch's offsets synchronously. So offsets are committed only after
the alerts derived from them are acknowledged, as Vigil does. The consumer gets the settings that
matter for throughput (fetch.queue.backoff.ms=10, REFERENCE.md), so the baseline is a fair one.

Prints one JSON line: {"records", "seconds", "alerts", "cpu_seconds"}, timed from the first record
to the N-th (the group join is not counted).
"""
import argparse
import json
import re
import resource
import sys
import time
from collections import defaultdict, deque
from datetime import datetime

from confluent_kafka import Consumer, Producer

FAILED = re.compile(rb"Failed password for (?:invalid user )?(\S+) from (\S+) port")
WINDOW_MS = 120_000
THRESHOLD = 8
SUPPRESS_MS = 60_000


def epoch_ms(text):
    """RFC 3339 (with Z or an offset) or epoch milliseconds, as the JSON shapes write times."""
    if isinstance(text, (int, float)):
        return int(text)
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def parse_json(value):
    """(time, source) of a failed login in an ECS or flat JSON event, else None."""
    event = json.loads(value)
    nested = event.get("event")
    if isinstance(nested, dict):
        outcome = nested.get("outcome")
        source = (event.get("source") or {}).get("ip")
        stamp = event.get("@timestamp")
    else:
        outcome = event.get("status") or event.get("outcome")
        source = event.get("src_ip") or event.get("source_ip")
        stamp = event.get("ts") or event.get("timestamp") or event.get("@timestamp")
    if outcome not in ("failure", "failed") or source is None or stamp is None:
        return None
    return epoch_ms(stamp), source


def parse_sshd(value):
    """(time, source) of an sshd "Failed password" line with an RFC 3339 timestamp, else None."""
    match = FAILED.search(value)
    if match is None:
        return None
    stamp = value.split(b" ", 1)[0].decode()
    return epoch_ms(stamp), match.group(2).decode()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--brokers", default="127.0.0.1:9092")
    p.add_argument("--topic", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--format", choices=["json", "sshd"], required=True)
    p.add_argument("--group", default=f"pyloop-{time.time()}")
    a = p.parse_args()
    parse = parse_json if a.format == "json" else parse_sshd
    consumer = Consumer({
        "bootstrap.servers": a.brokers, "group.id": a.group, "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "session.timeout.ms": 6000, "fetch.queue.backoff.ms": 10,
    })
    producer = Producer({"bootstrap.servers": a.brokers, "linger.ms": 20, "enable.idempotence": True})
    consumer.subscribe([a.topic])
    windows = defaultdict(deque)
    quiet_until = {}
    seen = alerts = 0
    start = None
    failed_deliveries = []

    def delivered(err, _msg):
        if err is not None:
            failed_deliveries.append(err)

    while seen < a.count:
        batch = consumer.consume(num_messages=1000, timeout=1.0)
        if not batch:
            continue
        if start is None:
            start = time.monotonic()
        for message in batch:
            if message.error():
                continue
            seen += 1
            try:
                failure = parse(message.value())
            except (ValueError, UnicodeDecodeError):
                continue
            if failure is None:
                continue
            t, source = failure
            window = windows[source]
            window.append(t)
            while window and window[0] <= t - WINDOW_MS:
                window.popleft()
            if len(window) >= THRESHOLD and quiet_until.get(source, -1) < t:
                quiet_until[source] = t + SUPPRESS_MS
                alerts += 1
                alert = {"rule": "brute_force", "source_ip": source, "failures": len(window),
                         "window_s": WINDOW_MS // 1000, "time": t,
                         "partition": message.partition(), "offset": message.offset()}
                producer.produce(a.output, key=source.encode(), value=json.dumps(alert).encode(),
                                 on_delivery=delivered)
        producer.flush()
        if failed_deliveries:
            sys.exit(f"alert delivery failed: {failed_deliveries[0]}")
        consumer.commit(asynchronous=False)
    seconds = time.monotonic() - start
    consumer.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"records": seen, "seconds": seconds, "alerts": alerts,
                      "cpu_seconds": usage.ru_utime + usage.ru_stime}))


if __name__ == "__main__":
    main()
