import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import Prometheus
import ServiceLifecycle
import VigilAnalysis
import VigilDetection
import VigilServers

/// `vigil serve`: the analysis library over HTTP — `/analyze` (JSON, NDJSON or raw lines),
/// `/analyze/file` (multipart upload, streamed to disk), model loading, named contexts for
/// clients that send a log in chunks, statistics, Prometheus metrics, health probes and the
/// OpenAPI document with its rendered reference page. A `Service`.
public struct APIServer: Service {
    private let application: Application<RouterResponder<APIRequestContext>>
    private let listen: ListenState
    let service: AnalysisService

    /// `versions` are reported by `/health` (`vigil`, `librdkafka`); `alerts` receives every
    /// answered analysis's anomalies; `onBound` receives the port actually bound (useful with
    /// port 0).
    public init(
        configuration: APIConfiguration, registry: PrometheusCollectorRegistry, versions: [(String, String)],
        logger: Logger, alerts: AnalysisService.AnomalyHook? = nil,
        onBound: @escaping @Sendable (Int) -> Void = { _ in }
    ) throws {
        let roots =
            configuration.modelRoots.isEmpty
            ? [FileManager.default.currentDirectoryPath, Self.parent(of: configuration.modelDirectory)]
            : configuration.modelRoots
        let models = ModelStore(roots: roots)
        let service = AnalysisService(configuration: configuration, models: models, alerts: alerts)
        self.service = service
        Self.loadInitialModel(configuration, models, logger: logger)

        let router = Router(context: APIRequestContext.self)
        router.add(
            middleware: APIMiddleware(
                tokenDigests: configuration.tokens.map { SHA256.hash(data: Array($0.utf8)) },
                openProbes: configuration.openProbes,
                limiter: configuration.rateLimitPerSecond > 0
                    ? RateLimiter(rate: configuration.rateLimitPerSecond, burst: configuration.rateLimitBurst) : nil,
                statistics: service.statistics,
                logger: logger))
        Self.routes(router, service: service, configuration: configuration, registry: registry, versions: versions)

        var serverLogger = logger
        serverLogger.logLevel = max(logger.logLevel, .notice)  // no per-request logs
        let address = configuration.address
        let scheme = configuration.tlsCertificatePath == nil ? "http" : "https"
        // Clients that stop sending (or never send) are dropped after the request timeout.
        let http1 = HTTP1Channel.Configuration(
            idleTimeout: .milliseconds(Int64(configuration.requestTimeoutMs)))
        let appConfiguration = ApplicationConfiguration(
            address: .hostname(address, port: configuration.port), serverName: "vigil")
        let listen = ListenState(purpose: "the API", address: address, port: configuration.port)
        self.listen = listen
        let onRunning: @Sendable (any Channel) async -> Void = { channel in
            let bound = channel.localAddress?.port ?? configuration.port
            listen.markListening()
            logger.notice("API on \(scheme)://\(address):\(bound) (docs at /docs)")
            onBound(bound)
        }
        if let certificate = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
            let tls: TLSConfiguration
            do {
                tls = TLSConfiguration.makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            } catch {
                throw APIError(.internalServerError, "tls", "cannot read the TLS certificate or key: \(error)")
            }
            application = Application(
                router: router, server: try .tls(.http1(configuration: http1), tlsConfiguration: tls),
                configuration: appConfiguration,
                onServerRunning: onRunning, logger: serverLogger)
        } else {
            application = Application(
                router: router, server: .http1(configuration: http1), configuration: appConfiguration,
                onServerRunning: onRunning, logger: serverLogger)
        }
    }

    /// Serves until the service group shuts down; throws ``ListenError`` when it cannot listen.
    public func run() async throws { try await listen.run { try await application.run() } }

    private static func parent(of path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return URL(fileURLWithPath: absolute).deletingLastPathComponent().path
    }

    private static func loadInitialModel(_ configuration: APIConfiguration, _ models: ModelStore, logger: Logger) {
        models.loadInitial(configuration.modelDirectory, explicit: configuration.modelDirectoryExplicit, logger: logger)
    }
}

extension ModelStore {
    /// The model at start: `path`; where it does not exist, the rules-only default — unless it
    /// was asked for `explicit`ly (then: unavailable, with the reason, until one is loaded). An
    /// empty folder (a fresh container volume, before `vigil train`) means rules only too.
    public func loadInitial(_ path: String, explicit: Bool, logger: Logger) {
        let models = self
        let entries = try? FileManager.default.contentsOfDirectory(atPath: path)
        if entries?.isEmpty == true {
            models.useRulesOnly()
            logger.notice("\(path) is empty: rules-only detection until a model is trained there or loaded")
            return
        }
        if entries == nil && !explicit {
            models.useRulesOnly()
            logger.notice("no model at \(path): rules-only detection until one is loaded (POST /models/load)")
            return
        }
        do {
            let loaded = try models.load(path)
            logger.notice("model \(loaded.version) loaded from \(path)")
        } catch {
            models.markUnavailable(error.message)
            logger.error("\(error.message); not ready until a model is loaded")
        }
    }
}

extension APIServer {

    static func json(_ bytes: [UInt8], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    private static func routes(
        _ router: Router<APIRequestContext>, service: AnalysisService, configuration: APIConfiguration,
        registry: PrometheusCollectorRegistry, versions: [(String, String)]
    ) {
        let started = ContinuousClock.now
        router.get("health") { _, _ in
            var w = JSONWriter()
            let model = service.models.model
            w.beginObject()
            w.field("status", model == nil ? "not ready" : "ok")
            w.key("model_loaded")
            w.bool(model != nil)
            w.key("model")
            if let model { model.write(to: &w) } else { w.null() }
            for (name, version) in versions { w.field("\(name)_version", version) }
            w.field("uptime_seconds", Int((ContinuousClock.now - started).components.seconds))
            w.endObject()
            return json(w.bytes)
        }
        router.get("health/live") { _, _ in json(Array(#"{"status":"live"}"#.utf8)) }
        router.get("health/ready") { _, _ in
            var w = JSONWriter()
            w.beginObject()
            if let model = service.models.model {
                w.field("status", "ready")
                w.field("model_version", model.version)
                w.endObject()
                return json(w.bytes)
            }
            w.field("status", "not ready")
            w.field("reason", service.models.unavailableReason ?? "no model loaded")
            w.endObject()
            return json(w.bytes, status: .serviceUnavailable)
        }
        router.post("models/load") { request, context in
            var request = request
            let body = try await request.collectBody(upTo: 64 << 10)
            let path = try Self.modelDirectory(in: Array(buffer: body)) ?? configuration.modelDirectory
            return json(try service.models.load(path).loadedJSON)
        }
        router.post("analyze") { request, context in
            var request = request
            let deadline = ContinuousClock.now + .milliseconds(configuration.requestTimeoutMs)
            let body = try await request.collectBody(upTo: configuration.maxBodyBytes)
            let (answer, cached) = try await service.analyze(
                body: Array(buffer: body), contentType: request.headers[.contentType], deadline: deadline)
            return json(answer.body, headers: [HTTPField.Name("X-Cache")!: cached ? "hit" : "miss"])
        }
        router.post("analyze/file") { request, context in
            let deadline = ContinuousClock.now + .milliseconds(configuration.requestTimeoutMs)
            guard let boundary = MultipartFileReceiver.boundary(contentType: request.headers[.contentType]) else {
                throw APIError(
                    .unsupportedMediaType, "unsupported_media_type",
                    "send multipart/form-data with a boundary and the log in the field `file`")
            }
            var receiver: MultipartFileReceiver
            do {
                receiver = try MultipartFileReceiver(
                    boundary: boundary, directory: configuration.temporaryDirectory,
                    maxBytes: configuration.maxUploadBytes)
            } catch {
                throw APIError(.internalServerError, "upload_failed", "cannot spool the upload: \(error)")
            }
            defer { receiver.discard() }
            do {
                for try await chunk in request.body { try receiver.feed(chunk.readableBytesView) }
                try receiver.finish()
            } catch MultipartFileReceiver.Failure.tooLarge(let limit) {
                throw APIError.tooLarge("the upload is larger than \(limit) bytes")
            } catch MultipartFileReceiver.Failure.malformed(let reason) {
                throw APIError.badRequest("invalid_multipart", reason)
            }
            guard receiver.sawFile else {
                throw APIError.unprocessable("missing_field", "the multipart field `file` is missing")
            }
            let name = receiver.fileName.flatMap { $0.split(separator: "/").last.map(String.init) } ?? "upload"
            let answer = try await service.analyzeFile(path: receiver.path, name: name, deadline: deadline)
            return json(answer.body)
        }
        router.get("contexts") { _, _ in
            var w = JSONWriter()
            w.beginObject()
            w.key("contexts")
            w.beginArray()
            for name in service.contexts.names { w.string(name) }
            w.endArray()
            w.endObject()
            return json(w.bytes)
        }
        router.delete("contexts/:name") { _, context in
            let name = try context.parameters.require("name")
            guard service.contexts.remove(name) else {
                throw APIError(.notFound, "context_not_found", "no context named \(name)")
            }
            return Response(status: .noContent)
        }
        router.get("stats") { _, _ in
            var w = JSONWriter()
            w.beginObject()
            service.statistics.write(to: &w)
            w.key("model")
            if let model = service.models.model { model.write(to: &w) } else { w.null() }
            w.key("contexts")
            w.objectValue { w in
                w.field("active", service.contexts.names.count)
                w.field("max", configuration.maxContexts)
            }
            w.key("cache_entries")
            w.int(service.cache.count)
            w.field("cache_bytes", service.cache.bytes)
            w.field("uptime_seconds", Int((ContinuousClock.now - started).components.seconds))
            w.endObject()
            return json(w.bytes)
        }
        router.get("metrics") { _, _ in
            var buffer = ByteBuffer()
            buffer.writeBytes(registry.emitToBuffer())
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: buffer))
        }
        router.get("openapi.json") { _, _ in json(Array(OpenAPIDocument.json.utf8)) }
        router.get("docs") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.html)))
        }
    }

    /// `model_dir` from a `/models/load` body; nil for an empty body or `{}`.
    static func modelDirectory(in body: [UInt8]) throws(APIError) -> String? {
        guard body.contains(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) else { return nil }
        var path: String? = nil
        for (key, range) in try AnalysisRequest.members(body) {
            guard key == "model_dir" else {
                throw .unprocessable("unknown_field", "unknown field \(key): the body takes model_dir")
            }
            path = String(decoding: try AnalysisRequest.string(Array(body[range]), field: "model_dir"), as: UTF8.self)
        }
        return path
    }
}
