"""Drives `vigil mcp` with the Python `mcp` client (an independent implementation of the
protocol) and checks every tool, its schemas and its error cases. Used by the Swift test
`MCPProcessTests`; exits non-zero with the failed check's message.

Environment: VIGIL (the binary), WORKDIR (the allowed directory: holds anomaly_outputs/ and
auth.log), OUTSIDE (a log file outside it), BROKERS and TOPIC (a topic holding anomalies).
"""

import asyncio
import json
import os
import sys

import jsonschema
from mcp import Client, StdioServerParameters

VIGIL, WORKDIR, OUTSIDE = os.environ["VIGIL"], os.environ["WORKDIR"], os.environ["OUTSIDE"]
BROKERS, TOPIC = os.environ["BROKERS"], os.environ["TOPIC"]


def params(*extra):
    return StdioServerParameters(
        command=VIGIL, args=["mcp", "--log-level", "warning", *extra], cwd=WORKDIR,
        env={"PATH": os.environ.get("PATH", ""), "MODEL_DIR": "anomaly_outputs", "VIGIL_MCP_MAX_FILE_BYTES": "100000"})


def text(result):
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def check(condition, message):
    if not condition:
        print("FAILED:", message)
        sys.exit(1)
    print("ok:", message)


async def main():
    async with Client(params("--brokers", BROKERS, "--output-topic", TOPIC)) as client:
        check(client.server_info.name == "log-anomaly-detection", f"server name {client.server_info.name}")
        tools = {t.name: t for t in (await client.list_tools()).tools}
        check(set(tools) == {"load_anomaly_models", "analyze_logs", "analyze_log_file", "get_detection_stats",
                             "get_recent_anomalies"}, f"the five tools: {sorted(tools)}")
        for tool in tools.values():
            check(tool.output_schema is not None and tool.input_schema.get("type") == "object",
                  f"{tool.name} declares input and output schemas")
        check(tools["analyze_logs"].annotations.read_only_hint is True, "analyze_logs is read-only")
        check(tools["load_anomaly_models"].annotations.read_only_hint is False, "load_anomaly_models is not read-only")

        async def call(name, arguments):
            result = await client.call_tool(name, arguments)
            if not result.is_error:
                # The structured result matches the tool's output schema and says what the text says.
                jsonschema.validate(result.structured_content, tools[name].output_schema)
            return result

        loaded = await call("load_anomaly_models", {"model_dir": "anomaly_outputs"})
        check(not loaded.is_error and loaded.structured_content["model"]["kind"] == "trained", "a trained model loads")
        check("trained" in text(loaded), "the text says what was loaded")

        lines = "\n".join(
            f"Nov 30 10:00:0{i} web1 sshd[4{i}]: Failed password for root from 203.0.113.8 port 4{i}22 ssh2"
            for i in range(10))
        analysed = await call("analyze_logs", {"log_data": lines, "format": "text"})
        body = analysed.structured_content
        check(not analysed.is_error and body["events_analyzed"] == 10, "analyze_logs reads raw lines")
        check(body["anomalies_detected"] >= 1 and "brute_force" in {a["detector"] for a in body["anomalies"]},
              "brute force is found")
        check(f"{body['anomalies_detected']} anomal" in text(analysed) and "brute_force" in text(analysed),
              "the text gives the same findings")
        events = json.dumps([{"timestamp": f"2026-11-30T10:00:{i:02d}Z", "event_type": "login_failed",
                              "user": "root", "source_ip": "203.0.113.9"} for i in range(10)])
        as_json = await call("analyze_logs", {"log_data": events, "format": "json"})
        check(not as_json.is_error and as_json.structured_content["anomalies_detected"] >= 1, "JSON events are analysed")

        bad = await client.call_tool("analyze_logs", {"log_data": "{\"user\": ", "format": "json"})
        check(bad.is_error and "not valid JSON" in text(bad), f"malformed log_data is a tool error: {text(bad)}")
        unknown = await client.call_tool("analyze_logs", {"log_data": "x", "colour": "red"})
        check(unknown.is_error and "colour" in text(unknown), "an unknown argument is named")
        missing = await client.call_tool("analyze_logs", {})
        check(missing.is_error and "log_data is required" in text(missing), "a missing argument is named")

        from_file = await call("analyze_log_file", {"filepath": "auth.log"})
        check(not from_file.is_error and from_file.structured_content["anomalies_detected"] >= 1, "a file inside is read")
        for path, why in [(OUTSIDE, "outside"), ("escape.log", "outside"), ("/dev/zero", "outside"),
                          ("anomaly_outputs", "not a regular file"), ("nothing.log", "does not exist"),
                          ("../" + os.path.basename(os.path.dirname(OUTSIDE)) + "/" + os.path.basename(OUTSIDE),
                           "outside")]:
            refused = await client.call_tool("analyze_log_file", {"filepath": path})
            check(refused.is_error and why in text(refused), f"{path} is refused ({why}): {text(refused)}")
        big = await client.call_tool("analyze_log_file", {"filepath": "big.log"})
        check(big.is_error and "limit" in text(big), f"a file over the size limit is refused: {text(big)}")

        stats = await call("get_detection_stats", {})
        check(not stats.is_error and stats.structured_content["events_analyzed"] >= 30, "stats count the analyses")

        recent = await call("get_recent_anomalies", {"since": "3650d", "limit": 5})
        check(not recent.is_error and recent.structured_content["count"] >= 1, f"recent anomalies are read: {text(recent)}")
        check(len(recent.structured_content["anomalies"]) <= 5, "limit holds")
        filtered = await call("get_recent_anomalies", {"detector": "brute_force", "since": "3650d"})
        check(all(a["detector"] == "brute_force" for a in filtered.structured_content["anomalies"]), "detector filter")
        wrong = await client.call_tool("get_recent_anomalies", {"severity": "urgent"})
        check(wrong.is_error and "severity" in text(wrong), "a bad severity is a tool error")

    async with Client(params("--output-topic", TOPIC)) as client:
        none = await client.call_tool("get_recent_anomalies", {})
        check(none.is_error and "no Kafka broker is configured" in text(none), "no broker configured: a tool error")
    async with Client(params("--brokers", "127.0.0.1:9", "--output-topic", TOPIC)) as client:
        unreachable = await client.call_tool("get_recent_anomalies", {})
        check(unreachable.is_error and "cannot reach" in text(unreachable),
              f"an unreachable broker: a tool error: {text(unreachable)}")
    print("all checks passed")


asyncio.run(main())
