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

    /// The text of every Swift file under Sources/.
    static func sourceTexts() -> [String] {
        let files = FileManager.default.enumerator(atPath: RepositoryFiles.path("Sources"))?.allObjects ?? []
        return files.compactMap { path in
            guard let path = path as? String, path.hasSuffix(".swift") else { return nil }
            return try? String(contentsOfFile: RepositoryFiles.path("Sources/\(path)"), encoding: .utf8)
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

    @Test(
        "the image's default command and its HEALTHCHECK, run outside a container in an /app-like folder: the API answers on 8000, rules only with an empty model volume"
    )
    func imageDefaultCommand() async throws {
        let text = try RepositoryFiles.text("Dockerfile")
        func jsonArray(after prefix: String) throws -> [String] {
            // Unindented: the image's CMD; the HEALTHCHECK's CMD is on an indented line.
            let line = try #require(text.split(separator: "\n").first { $0.hasPrefix(prefix) })
            let start = try #require(line.firstIndex(of: "["))
            return try #require(try JSONSerialization.jsonObject(with: Data(line[start...].utf8)) as? [String])
        }
        let command = try jsonArray(after: "CMD [")
        let health = try jsonArray(after: "  CMD [\"vigil\", \"probe\"")
        let app = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: app) }
        for folder in ["anomaly_outputs", "logs"] {  // as `docker run -v …:/app/…` mounts them: empty
            try FileManager.default.createDirectory(atPath: "\(app)/\(folder)", withIntermediateDirectories: true)
        }
        let vigil = try VigilCommand.path()
        // The command binds 8000: taking turns with the other test that binds it.
        try await FixedPort.with8000 {
            let server = try StreamHarness.StreamProcess.external(
                vigil, command, logPath: "\(app)/serve.log", directory: app)
            defer { server.killIfRunning() }
            var probed: (Int32, String) = (1, "")
            for _ in 0..<100 {
                probed = try await ChildProcess.run(vigil, Array(health.dropFirst()))
                if probed.0 == 0 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(probed.0 == 0, "HEALTHCHECK \(health): \(probed.1)\n\(server.log)")
            let ready = await LoopbackHTTP.get(port: 8000, path: "/health/ready")
            #expect(
                ready?.status == 200 && ready?.body.contains("rules-only") == true,
                "\(ready?.body ?? "")\n\(server.log)")
            server.terminate()
            #expect(await server.wait(timeout: .seconds(30)) == 0)
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

    // MARK: Kubernetes

    static let manifests = [
        "config.yaml", "secret.yaml", "stream.yaml", "api.yaml", "batch.yaml", "alerts.yaml", "topics-job.yaml",
    ]

    /// Every object in deploy/k8s, by "Kind/name".
    static func objects() throws -> [String: [String: Any]] {
        var all: [String: [String: Any]] = [:]
        for file in manifests {
            for case let object as [String: Any] in try Yams.load_all(
                yaml: try RepositoryFiles.text("deploy/k8s/\(file)"))
            {
                let name = (object["metadata"] as? [String: Any])?["name"] as? String ?? "?"
                all["\(object["kind"] as? String ?? "?")/\(name)"] = object
            }
        }
        return all
    }

    /// The first container of a workload (Deployment, CronJob).
    static func container(_ object: [String: Any]?) -> [String: Any] {
        var spec = object?["spec"] as? [String: Any]
        if let job = spec?["jobTemplate"] as? [String: Any] { spec = job["spec"] as? [String: Any] }
        let pod = (spec?["template"] as? [String: Any])?["spec"] as? [String: Any]
        return ((pod?["containers"] as? [[String: Any]])?.first) ?? [:]
    }

    /// The HTTP path of a container's `livenessProbe` or `readinessProbe`.
    static func probePath(of container: [String: Any], _ probe: String) -> String? {
        ((container[probe] as? [String: Any])?["httpGet"] as? [String: Any])?["path"] as? String
    }

    static func podSpec(_ object: [String: Any]?) -> [String: Any] {
        ((object?["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any] ?? [:]
    }

    @Test("every manifest in deploy/k8s validates (kubernetes-validate --strict, Kubernetes 1.30 schemas, offline)")
    func kubernetesValidate() async throws {
        for file in Self.manifests {
            let (status, output) = try await ChildProcess.run(
                "\(Self.venv)/kubernetes-validate",
                ["--strict", "-k", "1.30.0", RepositoryFiles.path("deploy/k8s/\(file)")])
            #expect(status == 0 && !output.contains("ERROR"), "\(file): \(output)")
        }
    }

    @Test(
        "k8s: the ConfigMap's files load with each command's settings; probes, ports, grace periods and replicas agree with them"
    )
    func kubernetesAgainstCode() throws {
        let objects = try Self.objects()
        let data = try #require((objects["ConfigMap/vigil-config"]?["data"]) as? [String: String])
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func file(_ name: String) throws -> String {
            let path = "\(dir)/\(name)"
            try #require(data[name], "the ConfigMap has \(name)").write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        var stream = StreamSettings()
        try StreamSettings.loader.apply(file: try file("stream.yml"), to: &stream)
        var serve = ServeSettings()
        try ServeSettings.loader.apply(file: try file("serve.yml"), to: &serve)
        var batch = BatchSettings()
        try BatchSettings.loader.apply(file: try file("batch.yml"), to: &batch)
        let secrets = ["VIGIL_WEBHOOK_URL": "https://soar.example/hook", "VIGIL_WEBHOOK_SECRET": "whsec_dGVzdA=="]
        _ = try AlertSettings.load(file: try file("alerts.yml"), environment: secrets)
        let topics = try TopicsFile.load(path: try file("topics.yml"))

        // Each workload runs the command its file configures, mounted where --config says.
        let workloads = [
            "Deployment/anomaly-stream": ("stream", "stream.yml"), "Deployment/anomaly-api": ("serve", "serve.yml"),
            "CronJob/anomaly-batch": ("batch", "batch.yml"), "Deployment/anomaly-alerts": ("alert", "alerts.yml"),
        ]
        for (name, (command, config)) in workloads {
            let container = Self.container(objects[name])
            let args = (container["args"] as? [String]) ?? []
            #expect(args.first == command, "\(name) runs vigil \(command)")
            #expect(args.contains("/etc/vigil/\(config)"), "\(name) reads /etc/vigil/\(config)")
            let mounts = (container["volumeMounts"] as? [[String: Any]]) ?? []
            #expect(
                mounts.contains {
                    $0["mountPath"] as? String == "/etc/vigil/\(config)" && $0["subPath"] as? String == config
                })
            #expect((container["resources"] as? [String: Any])?["limits"] != nil, "\(name) has limits")
        }

        // The stream: probes on its metrics server, grace above its shutdown deadline, replicas
        // within the input's partitions, a disruption budget.
        let detector = Self.container(objects["Deployment/anomaly-stream"])
        let port = ((detector["ports"] as? [[String: Any]])?.first?["containerPort"]) as? Int
        #expect(port == stream.metrics.port)
        #expect(Self.probePath(of: detector, "livenessProbe") == "/healthz")
        #expect(Self.probePath(of: detector, "readinessProbe") == "/readyz")
        #expect(stream.metrics.address == "0.0.0.0", "probes reach the metrics server from outside the pod")
        let grace = Self.podSpec(objects["Deployment/anomaly-stream"])["terminationGracePeriodSeconds"] as? Int ?? 0
        #expect(grace * 1000 > stream.stream.shutdownTimeoutMs)
        let replicas = (objects["Deployment/anomaly-stream"]?["spec"] as? [String: Any])?["replicas"] as? Int ?? 0
        let input = topics.topics.first(where: { $0.specification.name == stream.stream.inputTopic })
        let partitions = input?.specification.partitions ?? 0
        #expect(replicas >= 1 && replicas <= partitions, "\(replicas) replicas for \(partitions) partitions")
        #expect(objects["PodDisruptionBudget/anomaly-stream"] != nil)

        // The API: probes and port from serve.yml, a Service on that port, an autoscaler.
        let api = Self.container(objects["Deployment/anomaly-api"])
        #expect(((api["ports"] as? [[String: Any]])?.first?["containerPort"]) as? Int == serve.api.port)
        #expect(Self.probePath(of: api, "livenessProbe") == "/health/live")
        #expect(Self.probePath(of: api, "readinessProbe") == "/health/ready")
        let servicePort =
            (((objects["Service/anomaly-api"]?["spec"] as? [String: Any])?["ports"] as? [[String: Any]])?.first?["port"])
            as? Int
        #expect(servicePort == serve.api.port)
        #expect(objects["HorizontalPodAutoscaler/anomaly-api"] != nil)
        #expect(serve.tokensFile == "/etc/vigil/secrets/api_tokens")
        // The batch: one run at a time over its state file.
        #expect(
            (objects["CronJob/anomaly-batch"]?["spec"] as? [String: Any])?["concurrencyPolicy"] as? String == "Forbid")
        #expect((Self.container(objects["CronJob/anomaly-batch"])["args"] as? [String])?.contains("--once") == true)
    }

    // MARK: Prometheus

    @Test(
        "promtool checks the alerting rules and their unit tests pass; every metric they and the Grafana dashboard use exists in the code"
    )
    func prometheusRules() async throws {
        let rules = RepositoryFiles.path("deploy/prometheus/vigil-rules.yml")
        let (checked, checkOutput) = try await ChildProcess.run("/usr/bin/promtool", ["check", "rules", rules])
        #expect(checked == 0, "\(checkOutput)")
        let (tested, testOutput) = try await ChildProcess.run(
            "/usr/bin/promtool", ["test", "rules", RepositoryFiles.path("deploy/prometheus/vigil-rules.test.yml")])
        #expect(tested == 0, "\(testOutput)")
        let text = try RepositoryFiles.text("deploy/prometheus/vigil-rules.yml")
        let used = Set(text.matches(of: /\b((?:vigil|kafka_consumergroup)_[a-z_]+)/).map { String($0.output.1) })
        #expect(used.count >= 8)
        let sources = Self.sourceTexts().joined(separator: "\n")
        // The Grafana dashboard's queries too.
        let dashboard = try #require(
            try JSONSerialization.jsonObject(
                with: Data(
                    contentsOf: URL(fileURLWithPath: RepositoryFiles.path("deploy/grafana/vigil-dashboard.json"))))
                as? [String: Any])
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        let queries = panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
        #expect(panels.count >= 10 && queries.count >= panels.count)
        let charted = Set(
            queries.joined(separator: " ").matches(of: /\b((?:vigil|kafka_consumergroup)_[a-z_]+)/).map {
                String($0.output.1)
            })
        for metric in used.union(charted) {
            let base = metric.replacingOccurrences(of: "_bucket", with: "")
            #expect(sources.contains("\"\(base)\""), "\(metric) is queried, but no code records it")
        }
    }

    @Test("every metric the code records is in the README's Operations section")
    func metricsDocumented() throws {
        let readme = try RepositoryFiles.text("README.md")
        let start = try #require(readme.range(of: "\n## Operations\n"))
        let end = try #require(readme.range(of: "\n## Layout\n"))
        let operations = readme[start.upperBound..<end.lowerBound]
        var recorded = Set<String>()
        for text in Self.sourceTexts() {
            for match in text.matches(of: /label: "((?:vigil|kafka)_[a-z_]+)"/) {
                recorded.insert(String(match.output.1))
            }
        }
        #expect(recorded.count >= 30)
        for metric in recorded { #expect(operations.contains("`\(metric)"), "\(metric) is not documented") }
    }
}
