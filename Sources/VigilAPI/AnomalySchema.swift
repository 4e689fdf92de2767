/// `schemas/anomaly-v1.schema.json`, the shared anomaly schema, as the OpenAPI document embeds
/// it (a test keeps the two identical).
enum AnomalySchema {
    static let json = #"""
{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://vigil.example/schemas/anomaly-v1.schema.json",
  "title": "Vigil anomaly",
  "description": "One anomaly published by Vigil (topic security-anomalies, REST and MCP answers). Version 1.x: fields and values are only ever added (1.1: event kinds probe and lockout, event.process_id). ECS mapping: event_time\u2192@timestamp, detector\u2192rule.name, id\u2192event.id, severity\u2192event.severity, user\u2192user.name, source_ip\u2192source.ip, host\u2192host.name, mitre.technique_id\u2192threat.technique.id, mitre.tactic\u2192threat.tactic.name, summary\u2192message, event.kind (Vigil) \u2192 event.action, event.outcome\u2192event.outcome; event.kind=alert for the record itself.",
  "type": "object",
  "required": [
    "schema_version",
    "id",
    "detector",
    "severity",
    "score",
    "entity",
    "event_time",
    "summary",
    "evidence",
    "mitre",
    "event"
  ],
  "additionalProperties": false,
  "properties": {
    "schema_version": {
      "type": "string",
      "pattern": "^1\\.\\d+$",
      "description": "Schema version of this record."
    },
    "id": {
      "type": "string",
      "pattern": "^vgl-[0-9a-f]{16}$",
      "description": "Deterministic: the same record, detector and entity give the same id, so replays can be de-duplicated."
    },
    "detector": {
      "enum": [
        "brute_force",
        "password_spraying",
        "credential_stuffing",
        "success_after_failures",
        "account_enumeration",
        "new_source",
        "unusual_hour",
        "privileged_account",
        "rare_event",
        "volume_spike",
        "impossible_travel",
        "outlier"
      ]
    },
    "severity": {
      "enum": [
        "low",
        "medium",
        "high",
        "critical"
      ]
    },
    "score": {
      "type": "number",
      "minimum": 0,
      "maximum": 1,
      "description": "How far past its threshold the observation is."
    },
    "entity": {
      "type": "object",
      "required": [
        "type",
        "value"
      ],
      "additionalProperties": false,
      "properties": {
        "type": {
          "enum": [
            "user",
            "source_ip",
            "source_ip_user",
            "host",
            "template"
          ]
        },
        "value": {
          "type": "string"
        }
      }
    },
    "user": {
      "type": "string"
    },
    "source_ip": {
      "type": "string"
    },
    "host": {
      "type": "string"
    },
    "event_time": {
      "type": "string",
      "format": "date-time",
      "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$"
    },
    "summary": {
      "type": "string",
      "minLength": 1,
      "description": "One human sentence with the numbers."
    },
    "evidence": {
      "type": "object",
      "description": "Counts, windows, first/last seen and thresholds, by detector."
    },
    "mitre": {
      "oneOf": [
        {
          "type": "null"
        },
        {
          "type": "object",
          "required": [
            "tactic",
            "technique_id",
            "technique"
          ],
          "additionalProperties": false,
          "properties": {
            "tactic": {
              "type": "string"
            },
            "technique_id": {
              "type": "string",
              "pattern": "^T\\d{4}(\\.\\d{3})?$"
            },
            "technique": {
              "type": "string"
            }
          }
        }
      ]
    },
    "event": {
      "type": "object",
      "required": [
        "timestamp",
        "kind",
        "outcome",
        "template"
      ],
      "additionalProperties": false,
      "properties": {
        "timestamp": {
          "type": "string",
          "format": "date-time",
          "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$"
        },
        "kind": {
          "enum": [
            "auth_success",
            "auth_failure",
            "invalid_user",
            "break_in_attempt",
            "disconnect",
            "session_open",
            "session_close",
            "logout",
            "probe",
            "lockout",
            "sudo",
            "su",
            "auth_info",
            "unknown"
          ]
        },
        "outcome": {
          "enum": [
            "success",
            "failure",
            "unknown"
          ]
        },
        "user": {
          "type": "string"
        },
        "source_ip": {
          "type": "string"
        },
        "source_port": {
          "type": "integer"
        },
        "host": {
          "type": "string"
        },
        "service": {
          "type": "string"
        },
        "process_id": {
          "type": "integer",
          "minimum": 0,
          "description": "The process that wrote the line (syslog's prog[pid], journald's _PID)."
        },
        "destination_ip": {
          "type": "string"
        },
        "country": {
          "type": "string"
        },
        "latitude": {
          "type": "number"
        },
        "longitude": {
          "type": "number"
        },
        "target_user": {
          "type": "string"
        },
        "command": {
          "type": "string"
        },
        "auth_method": {
          "type": "string"
        },
        "action": {
          "type": "string"
        },
        "user_agent": {
          "type": "string"
        },
        "session_id": {
          "type": "string"
        },
        "repeat_count": {
          "type": "integer",
          "minimum": 2
        },
        "message": {
          "type": "string"
        },
        "template": {
          "type": "string"
        }
      }
    }
  }
}
"""#
}
