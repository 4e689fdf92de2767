#!/usr/bin/env python3
"""Dump a topic's records as JSON lines, read with confluent-kafka (an independent Kafka client).

  kafka-dump.py --brokers 127.0.0.1:9092 --topic security-anomalies [--expect N] [--idle 5] [--timeout 120]

Reads every partition from the beginning without joining a group. Stops once --expect records
arrived and nothing more came for --idle seconds (or after --timeout). Each output line:
{"partition", "offset", "key", "value", "headers": {name: value}, "timestamp"}.
"""
import argparse
import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition


def text(b):
    return None if b is None else b.decode("utf-8", errors="replace")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--brokers", default="127.0.0.1:9092")
    p.add_argument("--topic", required=True)
    p.add_argument("--expect", type=int, default=0)
    p.add_argument("--idle", type=float, default=5.0)
    p.add_argument("--timeout", type=float, default=120.0)
    a = p.parse_args()
    c = Consumer({"bootstrap.servers": a.brokers, "group.id": f"kafka-dump-{time.time()}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    meta = c.list_topics(a.topic, timeout=10)
    if a.topic not in meta.topics or meta.topics[a.topic].error is not None:
        print(f"topic {a.topic} not found", file=sys.stderr)
        sys.exit(2)
    c.assign([TopicPartition(a.topic, p, OFFSET_BEGINNING) for p in meta.topics[a.topic].partitions])
    seen = 0
    start = last = time.time()
    while time.time() - start < a.timeout:
        m = c.poll(0.5)
        now = time.time()
        if m is None:
            if seen >= a.expect and now - last >= a.idle:
                break
            continue
        if m.error():
            print(f"error: {m.error()}", file=sys.stderr)
            continue
        last = now
        seen += 1
        headers = {k: text(v) for k, v in (m.headers() or [])}
        print(json.dumps({"partition": m.partition(), "offset": m.offset(), "key": text(m.key()),
                          "value": text(m.value()), "headers": headers, "timestamp": m.timestamp()[1]}))
    c.close()


if __name__ == "__main__":
    main()
