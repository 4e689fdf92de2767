import Foundation
import Testing
import VigilSettings
import VigilTesting
import Yams

/// The deployment files, checked by the tools their ecosystems use (hadolint, the Compose
/// file format's JSON schema, kubernetes-validate, promtool) — no Docker engine or cluster
/// runs here — and against the code: commands, ports, probes and settings must exist.
@Suite("Deployment files")
struct DeploymentTests {
    static let venv = RepositoryFiles.path(".tools/venv/bin")

    /// Every environment variable a command reads as a setting (primary names and aliases).
    static func variables(_ command: String) -> Set<String> {
        func names<Root>(_ table: [Setting<Root>]) -> Set<String> {
            Set(table.flatMap { [$0.environmentVariable] + $0.environmentAliases })
        }
        switch command {
        case "stream": return names(StreamSettings.table)
        // Both also read VIGIL_BROKERS for the Kafka sinks of their alerts (AlertOutboxWiring).
        case "serve": return names(ServeSettings.table).union(["VIGIL_BROKERS"])
        case "batch": return names(BatchSettings.table).union(["VIGIL_BROKERS"])
        // vigil mcp and vigil alert read these (MCPCommand, AlertCommand and alerts.yml's ${…}).
        case "mcp":
            return [
                "MODEL_DIR", "VIGIL_MODEL_DIR", "VIGIL_BROKERS", "VIGIL_OUTPUT_TOPIC", "VIGIL_MCP_ALLOWED_DIRS",
                "VIGIL_MCP_MAX_FILE_BYTES", "VIGIL_LOG_LEVEL", "LOG_LEVEL", "VIGIL_LOG_FORMAT",
            ]
        case "alert":
            return ["VIGIL_ALERTS_CONFIG", "VIGIL_BROKERS", "VIGIL_LOG_LEVEL", "LOG_LEVEL", "VIGIL_LOG_FORMAT"]
        default: return []
        }
    }

    static func compose() throws -> [String: [String: Any]] {
        let file = try #require(try Yams.load(yaml: try RepositoryFiles.text("docker-compose.yml")) as? [String: Any])
        return try #require(file["services"] as? [String: [String: Any]])
    }

    @Test("hadolint finds nothing in the Dockerfile")
    func hadolint() async throws {
        let (status, output) = try await ChildProcess.run("\(Self.venv)/hadolint", [RepositoryFiles.path("Dockerfile")])
        #expect(status == 0, "\(output)")
    }

    @Test(
        "the Dockerfile: multi-stage, non-root, HEALTHCHECK on the API's liveness probe, the API on 8000 by default, NOTICE shipped"
    )
    func dockerfile() throws {
        let text = try RepositoryFiles.text("Dockerfile")
        #expect(text.split(separator: "\n").filter { $0.hasPrefix("FROM ") }.count == 2)
        #expect(text.contains("USER 10001"))
        #expect(
            text.contains("HEALTHCHECK")
                && text.contains("[\"vigil\", \"probe\", \"http://127.0.0.1:8000/health/live\"]"))
        #expect(text.contains(#"ENTRYPOINT ["vigil"]"#))
        #expect(text.contains(#"CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]"#))
        #expect(text.contains("WORKDIR /app") && text.contains("/app/anomaly_outputs") && text.contains("/app/logs"))
        #expect(text.contains("COPY LICENSE NOTICE"))
        let ignored = try RepositoryFiles.text(".dockerignore").split(separator: "\n").map(String.init)
        for path in [".build", ".deps", ".tools", ".git"] {
            #expect(ignored.contains(path), "\(path) not in .dockerignore")
        }
    }

    @Test("docker-compose.yml validates against the Compose file format's JSON schema (Docker's own)")
    func composeSchema() async throws {
        let script = """
            import json, sys, yaml, jsonschema
            schema = json.load(open(sys.argv[1]))
            document = yaml.safe_load(open(sys.argv[2]))
            validator = jsonschema.validators.validator_for(schema)(schema)
            errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
            for e in errors: print("/".join(map(str, e.path)), e.message)
            sys.exit(1 if errors else 0)
            """
        let (status, output) = try await ChildProcess.run(
            "\(Self.venv)/python",
            [
                "-c", script, RepositoryFiles.path(".tools/compose_spec.json"),
                RepositoryFiles.path("docker-compose.yml"),
            ])
        #expect(status == 0, "\(output)")
    }

    @Test(
        "compose: every Vigil service's command, variables, ports, volumes, restart policy and limits agree with the code"
    )
    func composeAgainstCode() throws {
        let services = try Self.compose()
        let commands = [
            "anomaly-stream": "stream", "anomaly-api": "serve", "anomaly-mcp": "mcp",
            "anomaly-batch": "batch", "anomaly-alerts": "alert", "anomaly-api-2": "serve",
        ]
        for (name, command) in commands {
            let service = try #require(services[name], "no service \(name)")
            #expect((service["command"] as? [String])?.first == command, "\(name) runs vigil \(command)")
            #expect(service["image"] as? String == "anomaly-detection:latest", "\(name): one image")
            #expect(service["restart"] as? String == "unless-stopped", "\(name): restart policy")
            let limits = ((service["deploy"] as? [String: Any])?["resources"] as? [String: Any])?["limits"]
            #expect((limits as? [String: Any])?["memory"] != nil, "\(name): a memory limit")
            let environment = (service["environment"] as? [String: Any]) ?? [:]
            let known = Self.variables(command).union(["VIGIL_WEBHOOK_URL", "VIGIL_WEBHOOK_SECRET"])
            for variable in environment.keys {
                #expect(known.contains(variable), "\(name): vigil \(command) reads no \(variable)")
            }
            #expect(environment["LOG_LEVEL"] != nil, "\(name): LOG_LEVEL")
        }
        let api = try #require(services["anomaly-api"])
        #expect((api["ports"] as? [String]) == ["8000:8000"])
        #expect((api["environment"] as? [String: Any])?["WORKERS"] != nil)
        #expect((api["environment"] as? [String: Any])?["MODEL_DIR"] as? String == "${MODEL_DIR:-/app/anomaly_outputs}")
        let batch = try #require(services["anomaly-batch"])
        #expect((batch["environment"] as? [String: Any])?["BATCH_INTERVAL"] as? String == "${BATCH_INTERVAL:-3600}")
        let mounts = Set(
            commands.keys.flatMap { (services[$0]?["volumes"] as? [String]) ?? [] }.map {
                String($0.split(separator: ":")[0])
            })
        for folder in ["./anomaly_outputs", "./logs", "./batch_outputs"] { #expect(mounts.contains(folder)) }
        // The stream's probe is its metrics server's; its grace period outlasts its shutdown deadline.
        let stream = try #require(services["anomaly-stream"])
        let probe = ((stream["healthcheck"] as? [String: Any])?["test"] as? [String]) ?? []
        #expect(probe.contains("http://127.0.0.1:9464/healthz"))
        #expect(stream["stop_grace_period"] as? String == "45s")
        #expect(StreamSettings.table.first { $0.key == "shutdown_timeout_ms" }?.defaultText == "30000")
        // prod: nginx with the deploy file in front of two API instances; the alert router on request.
        #expect((services["nginx"]?["profiles"] as? [String]) == ["prod"])
        #expect(
            (services["nginx"]?["volumes"] as? [String])?.contains(
                "./deploy/nginx/vigil.conf:/etc/nginx/conf.d/default.conf:ro") == true)
        #expect((services["anomaly-alerts"]?["profiles"] as? [String]) == ["alerts"])
        #expect(FileManager.default.fileExists(atPath: RepositoryFiles.path("deploy/alerts.yml")))
        _ = try AlertSettings.load(
            file: RepositoryFiles.path("deploy/alerts.yml"),
            environment: ["VIGIL_WEBHOOK_URL": "https://soc.example/hook", "VIGIL_WEBHOOK_SECRET": "whsec_dGVzdA=="])
    }
}
