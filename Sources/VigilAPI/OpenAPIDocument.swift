import Foundation

/// The OpenAPI 3.1 document of the API (served at `/openapi.json`) and the reference page
/// rendered from it (`/docs`: static HTML with inline CSS, no scripts or external assets).
/// Tests hold the implementation to it with schemathesis and a real browser.
enum OpenAPIDocument {
    /// The document with the shared anomaly schema embedded as `Anomaly`.
    static let json: String = {
        guard var document = try? JSONSerialization.jsonObject(with: Data(base.utf8)) as? [String: Any],
            var schema = try? JSONSerialization.jsonObject(with: Data(AnomalySchema.json.utf8)) as? [String: Any],
            var components = document["components"] as? [String: Any],
            var schemas = components["schemas"] as? [String: Any]
        else { return base }
        schema.removeValue(forKey: "$schema")
        schema.removeValue(forKey: "$id")
        schemas["Anomaly"] = schema
        components["schemas"] = schemas
        document["components"] = components
        guard let data = try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys]) else {
            return base
        }
        return String(decoding: data, as: UTF8.self)
    }()

    static let html: String = DocsPage.render(json)

    /// Each documented path (as segments, `{…}` matching any one) with its methods: a request
    /// to a known path with another method is answered 405 with `Allow`, not 404.
    static let routes: [(segments: [Substring], methods: [String])] = {
        guard let document = try? JSONSerialization.jsonObject(with: Data(base.utf8)) as? [String: Any],
            let paths = document["paths"] as? [String: Any]
        else { return [] }
        return paths.map { path, operations in
            let methods = ((operations as? [String: Any]) ?? [:]).keys.map { $0.uppercased() }.sorted()
            return (path.split(separator: "/"), methods)
        }
    }()

    /// The methods `path` answers to, if it is a documented path.
    static func methods(for path: String) -> [String]? {
        let segments = path.split(separator: "/")
        return routes.first { route in
            route.segments.count == segments.count
                && zip(route.segments, segments).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }?.methods
    }

    private static let errorResponses = #"""
        "400": {"$ref": "#/components/responses/Error"},
        "401": {"$ref": "#/components/responses/Error"},
        "429": {"$ref": "#/components/responses/Error"},
        "503": {"$ref": "#/components/responses/Error"}
        """#

    static let base = #"""
        {
          "openapi": "3.1.0",
          "info": {
            "title": "Vigil log anomaly detection API",
            "version": "1.0.0",
            "description": "Analyse authentication and system logs for attacks and anomalies. Every anomaly says why (summary, evidence, MITRE ATT&CK technique). Errors are always JSON: {\"error\": {\"code\", \"message\"}}. With tokens configured, send `Authorization: Bearer <token>`; /health*, /metrics, /docs and /openapi.json stay open unless configured otherwise."
          },
          "servers": [{"url": "/"}],
          "security": [{}, {"bearer": []}],
          "paths": {
            "/health": {
              "get": {
                "operationId": "health",
                "summary": "Status, model, versions and uptime",
                "security": [{}],
                "responses": {
                  "200": {"description": "The server's status.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}
                }
              }
            },
            "/health/live": {
              "get": {
                "operationId": "live",
                "summary": "Liveness: the process answers",
                "security": [{}],
                "responses": {"200": {"description": "Alive.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Probe"}}}}}
              }
            },
            "/health/ready": {
              "get": {
                "operationId": "ready",
                "summary": "Readiness: a model (trained or the rules-only default) is loaded",
                "security": [{}],
                "responses": {
                  "200": {"description": "Ready.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Probe"}}}},
                  "503": {"description": "No model loaded; `reason` says why.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Probe"}}}}
                }
              }
            },
            "/models/load": {
              "post": {
                "operationId": "loadModels",
                "summary": "Load or reload a model directory",
                "description": "Loads the directory (default: the configured MODEL_DIR). A missing, disallowed or corrupt model is refused with the reason and the model in use stays active. Directories are confined to the configured roots.",
                "requestBody": {
                  "required": false,
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LoadRequest"}}}
                },
                "responses": {
                  "200": {"description": "Loaded.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LoadResponse"}}}},
                  "403": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"},
                  "413": {"$ref": "#/components/responses/Error"},
                  "422": {"$ref": "#/components/responses/Error"},
        \#(errorResponses)
                }
              }
            },
            "/analyze": {
              "post": {
                "operationId": "analyzeLogs",
                "summary": "Analyse log events or lines",
                "description": "Send {\"logs\": [event, …]} (JSON objects), {\"logs\": \"raw lines\"}, or the logs themselves as application/x-ndjson or text/plain. Without `context` each request is analysed on its own with the loaded model (identical bodies are answered from the cache: X-Cache hit). With `context` the detectors' state carries over from request to request under that name, so a log sent in chunks yields the anomalies of one big request.",
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/AnalyzeRequest"}},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                    "text/plain": {"schema": {"type": "string"}}
                  }
                },
                "responses": {
                  "200": {
                    "description": "The anomalies found.",
                    "headers": {"X-Cache": {"description": "hit when answered from the cache", "schema": {"type": "string", "enum": ["hit", "miss"]}}},
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AnalyzeResponse"}}}
                  },
                  "413": {"$ref": "#/components/responses/Error"},
                  "415": {"$ref": "#/components/responses/Error"},
                  "422": {"$ref": "#/components/responses/Error"},
        \#(errorResponses)
                }
              }
            },
            "/analyze/file": {
              "post": {
                "operationId": "analyzeFile",
                "summary": "Analyse an uploaded log file",
                "description": "multipart/form-data with the log in the field `file`: a JSON array, NDJSON or raw log lines, detected automatically; gzip accepted. Streamed to disk, so memory does not grow with the upload.",
                "requestBody": {
                  "required": true,
                  "content": {
                    "multipart/form-data": {
                      "schema": {"type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}
                    }
                  }
                },
                "responses": {
                  "200": {"description": "The anomalies found.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AnalyzeResponse"}}}},
                  "413": {"$ref": "#/components/responses/Error"},
                  "415": {"$ref": "#/components/responses/Error"},
                  "422": {"$ref": "#/components/responses/Error"},
        \#(errorResponses)
                }
              }
            },
            "/contexts": {
              "get": {
                "operationId": "listContexts",
                "summary": "Names of the analysis contexts kept",
                "responses": {
                  "200": {"description": "The contexts.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Contexts"}}}},
        \#(errorResponses)
                }
              }
            },
            "/contexts/{name}": {
              "delete": {
                "operationId": "deleteContext",
                "summary": "Forget a context's state",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {
                  "204": {"description": "Forgotten."},
                  "404": {"$ref": "#/components/responses/Error"},
        \#(errorResponses)
                }
              }
            },
            "/stats": {
              "get": {
                "operationId": "stats",
                "summary": "Events analysed, anomalies by detector and severity, requests, cache and contexts",
                "responses": {
                  "200": {"description": "Statistics since start.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stats"}}}},
        \#(errorResponses)
                }
              }
            },
            "/metrics": {
              "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics",
                "security": [{}],
                "responses": {"200": {"description": "Prometheus text format.", "content": {"text/plain": {"schema": {"type": "string"}}}}}
              }
            },
            "/openapi.json": {
              "get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [{}],
                "responses": {"200": {"description": "OpenAPI 3.1.", "content": {"application/json": {"schema": {"type": "object"}}}}}
              }
            },
            "/docs": {
              "get": {
                "operationId": "docs",
                "summary": "The API reference, rendered from this document",
                "security": [{}],
                "responses": {"200": {"description": "HTML.", "content": {"text/html": {"schema": {"type": "string"}}}}}
              }
            }
          },
          "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
              "Error": {"description": "An error: which field, which record, why.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            },
            "schemas": {
              "Error": {
                "type": "object", "required": ["error"], "additionalProperties": false,
                "properties": {
                  "error": {
                    "type": "object", "required": ["code", "message"], "additionalProperties": false,
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}
                  }
                }
              },
              "Probe": {
                "type": "object", "required": ["status"],
                "properties": {"status": {"type": "string"}, "model_version": {"type": "string"}, "reason": {"type": "string"}}
              },
              "Model": {
                "type": "object", "required": ["kind", "version", "loaded_at"],
                "properties": {
                  "kind": {"type": "string", "enum": ["trained", "rules-only"]},
                  "version": {"type": "string"},
                  "directory": {"type": ["string", "null"]},
                  "loaded_at": {"type": "string"},
                  "users": {"type": "integer"},
                  "templates": {"type": "integer"},
                  "trained_events": {"type": "integer"}
                }
              },
              "Health": {
                "type": "object", "required": ["status", "model_loaded", "model", "uptime_seconds"],
                "properties": {
                  "status": {"type": "string", "enum": ["ok", "not ready"]},
                  "model_loaded": {"type": "boolean"},
                  "model": {"oneOf": [{"$ref": "#/components/schemas/Model"}, {"type": "null"}]},
                  "vigil_version": {"type": "string"},
                  "librdkafka_version": {"type": "string"},
                  "uptime_seconds": {"type": "integer"}
                }
              },
              "LoadRequest": {
                "type": "object", "additionalProperties": false,
                "properties": {"model_dir": {"type": "string", "minLength": 1, "description": "A directory written by `vigil train`; default MODEL_DIR."}}
              },
              "LoadResponse": {
                "type": "object", "required": ["status", "model"],
                "properties": {"status": {"type": "string", "const": "loaded"}, "model": {"$ref": "#/components/schemas/Model"}}
              },
              "AnalyzeRequest": {
                "type": "object", "required": ["logs"], "additionalProperties": false,
                "properties": {
                  "logs": {
                    "oneOf": [
                      {"type": "array", "items": {"description": "A log event object (ECS, Winlogbeat, journald, the API shape); anything else is reported in errors with its index, and the other events are still analysed."}, "description": "Log events as JSON objects."},
                      {"type": "string", "description": "Raw log lines (syslog, sshd, auth.log) or NDJSON."}
                    ]
                  },
                  "context": {
                    "type": ["string", "null"], "pattern": "^[A-Za-z0-9._-]{1,128}$",
                    "description": "Keep the detectors' state across requests under this name."
                  }
                }
              },
              "RecordError": {
                "type": "object", "required": ["index", "reason"],
                "properties": {"index": {"type": "integer"}, "line": {"type": ["integer", "null"]}, "reason": {"type": "string"}}
              },
              "AnalyzeResponse": {
                "type": "object",
                "required": ["anomalies_detected", "anomalies", "events_analyzed", "records", "errors", "errors_total", "duration_ms", "model"],
                "properties": {
                  "anomalies_detected": {"type": "integer"},
                  "anomalies": {"type": "array", "items": {"$ref": "#/components/schemas/Anomaly"}},
                  "events_analyzed": {"type": "integer"},
                  "records": {"type": "integer"},
                  "errors": {"type": "array", "items": {"$ref": "#/components/schemas/RecordError"}},
                  "errors_total": {"type": "integer"},
                  "input_error": {"type": "string"},
                  "duration_ms": {"type": "number"},
                  "model": {"$ref": "#/components/schemas/Model"},
                  "context": {"type": ["string", "null"]}
                }
              },
              "Contexts": {
                "type": "object", "required": ["contexts"],
                "properties": {"contexts": {"type": "array", "items": {"type": "string"}}}
              },
              "Stats": {
                "type": "object",
                "required": ["events_analyzed", "anomalies_detected", "anomalies_by_detector", "anomalies_by_severity", "requests", "cache", "model", "contexts"],
                "properties": {
                  "events_analyzed": {"type": "integer"},
                  "records": {"type": "integer"},
                  "record_errors": {"type": "integer"},
                  "anomalies_detected": {"type": "integer"},
                  "anomalies_by_detector": {"type": "object", "additionalProperties": {"type": "integer"}},
                  "anomalies_by_severity": {"type": "object", "additionalProperties": {"type": "integer"}},
                  "requests": {"type": "object", "additionalProperties": {"type": "integer"}},
                  "cache": {"type": "object", "properties": {"hits": {"type": "integer"}, "misses": {"type": "integer"}}},
                  "model": {"oneOf": [{"$ref": "#/components/schemas/Model"}, {"type": "null"}]},
                  "contexts": {"type": "object", "properties": {"active": {"type": "integer"}, "max": {"type": "integer"}}},
                  "cache_entries": {"type": "integer"},
                  "cache_bytes": {"type": "integer"},
                  "uptime_seconds": {"type": "integer"}
                }
              }
            }
          }
        }
        """#
}

/// Renders the OpenAPI document as a reference page: every path and operation with its
/// summary, description, parameters, request bodies and responses, then the schemas.
enum DocsPage {
    static func render(_ json: String) -> String {
        guard let document = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            return "<!doctype html><title>Vigil API</title><p>The API document could not be read.</p>"
        }
        let info = document["info"] as? [String: Any] ?? [:]
        var html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(info["title"] as? String ?? "API")) — reference</title>
            <style>
            body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}
            main{max-width:960px;margin:0 auto;padding:24px}
            h1{font-size:26px;margin:0 0 8px} h2{margin-top:32px;border-bottom:1px solid #d0d7de}
            .op{background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:12px 0;padding:12px 16px}
            .method{display:inline-block;min-width:64px;font-weight:700;color:#fff;border-radius:4px;padding:2px 8px;margin-right:8px;text-align:center}
            .get{background:#0969da}.post{background:#1a7f37}.delete{background:#cf222e}
            code,.path{font-family:ui-monospace,monospace} .path{font-weight:600}
            table{border-collapse:collapse;margin:6px 0} td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
            .muted{color:#57606a}
            </style></head><body><main>
            <h1>\(escape(info["title"] as? String ?? "API"))</h1>
            <p class="muted">Version \(escape(info["version"] as? String ?? "")) · OpenAPI \(escape(document["openapi"] as? String ?? "")) · <a href="/openapi.json">openapi.json</a></p>
            <p>\(escape(info["description"] as? String ?? ""))</p>
            <h2>Endpoints</h2>

            """
        let paths = document["paths"] as? [String: Any] ?? [:]
        for path in paths.keys.sorted() {
            guard let operations = paths[path] as? [String: Any] else { continue }
            for method in ["get", "post", "put", "delete"] {
                guard let op = operations[method] as? [String: Any] else { continue }
                html += "<section class=\"op\" id=\"\(escape(op["operationId"] as? String ?? path))\">"
                html += "<div><span class=\"method \(method)\">\(method.uppercased())</span>"
                html += "<span class=\"path\">\(escape(path))</span> — \(escape(op["summary"] as? String ?? ""))</div>"
                if let description = op["description"] as? String { html += "<p>\(escape(description))</p>" }
                if let parameters = op["parameters"] as? [[String: Any]], !parameters.isEmpty {
                    html += "<table><tr><th>Parameter</th><th>In</th><th>Type</th></tr>"
                    for p in parameters {
                        let type = (p["schema"] as? [String: Any])?["type"] as? String ?? ""
                        html += "<tr><td><code>\(escape(p["name"] as? String ?? ""))</code></td><td>\(escape(p["in"] as? String ?? ""))</td><td>\(escape(type))</td></tr>"
                    }
                    html += "</table>"
                }
                if let body = op["requestBody"] as? [String: Any], let content = body["content"] as? [String: Any] {
                    html += "<p>Request body: "
                    html += content.keys.sorted().map { type in
                        let schema = (content[type] as? [String: Any])?["schema"] as? [String: Any] ?? [:]
                        return "<code>\(escape(type))</code> (\(escape(schemaName(schema))))"
                    }.joined(separator: ", ")
                    html += "</p>"
                }
                if let responses = op["responses"] as? [String: Any] {
                    html += "<table><tr><th>Status</th><th>Response</th></tr>"
                    for status in responses.keys.sorted() {
                        let response = responses[status] as? [String: Any] ?? [:]
                        let text: String
                        if let ref = response["$ref"] as? String {
                            text = "error: <code>{\"error\": {\"code\", \"message\"}}</code> (\(escape(ref.split(separator: "/").last.map(String.init) ?? "")))"
                        } else {
                            let content = response["content"] as? [String: Any] ?? [:]
                            let schemas = content.keys.sorted().map { type -> String in
                                let schema = (content[type] as? [String: Any])?["schema"] as? [String: Any] ?? [:]
                                return "<code>\(escape(type))</code> \(escape(schemaName(schema)))"
                            }
                            text = escape(response["description"] as? String ?? "") + (schemas.isEmpty ? "" : " — " + schemas.joined(separator: ", "))
                        }
                        html += "<tr><td>\(escape(status))</td><td>\(text)</td></tr>"
                    }
                    html += "</table>"
                }
                html += "</section>\n"
            }
        }
        html += "<h2>Schemas</h2>\n"
        let schemas = ((document["components"] as? [String: Any])?["schemas"] as? [String: Any]) ?? [:]
        for name in schemas.keys.sorted() {
            guard let schema = schemas[name] as? [String: Any] else { continue }
            let required = Set(schema["required"] as? [String] ?? [])
            html += "<section class=\"op\" id=\"schema-\(escape(name))\"><div class=\"path\">\(escape(name))</div>"
            if let description = schema["description"] as? String { html += "<p>\(escape(description))</p>" }
            if let properties = schema["properties"] as? [String: Any] {
                html += "<table><tr><th>Field</th><th>Type</th><th>Required</th></tr>"
                for field in properties.keys.sorted() {
                    let property = properties[field] as? [String: Any] ?? [:]
                    html += "<tr><td><code>\(escape(field))</code></td><td>\(escape(schemaName(property)))</td><td>\(required.contains(field) ? "yes" : "")</td></tr>"
                }
                html += "</table>"
            }
            html += "</section>\n"
        }
        html += "</main></body></html>\n"
        return html
    }

    /// A schema's type in a few words: its reference name, its type(s), or its alternatives.
    static func schemaName(_ schema: [String: Any]) -> String {
        if let ref = schema["$ref"] as? String { return ref.split(separator: "/").last.map(String.init) ?? ref }
        if let alternatives = schema["oneOf"] as? [[String: Any]] {
            return alternatives.map(schemaName).joined(separator: " or ")
        }
        if let type = schema["type"] as? String {
            if type == "array", let items = schema["items"] as? [String: Any] { return "array of \(schemaName(items))" }
            return type
        }
        if let types = schema["type"] as? [String] { return types.joined(separator: " or ") }
        if let values = schema["enum"] as? [Any] { return "one of " + values.map { "\($0)" }.joined(separator: ", ") }
        return "any"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
