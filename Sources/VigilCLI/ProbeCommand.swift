import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore

/// `vigil probe`: asks a health endpoint, for container health checks (the image has no curl).
struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "GET a health endpoint; exit 0 on a 2xx answer, 1 otherwise (Docker HEALTHCHECK).",
        discussion: """
            vigil probe                                   # the API's liveness: http://127.0.0.1:8000/health/live
            vigil probe http://127.0.0.1:9464/healthz      # the stream detector's
            """
    )

    @Argument(help: "The URL to ask.") var url = "http://127.0.0.1:8000/health/live"
    @Option(name: .long, help: "Seconds to wait for the answer.") var timeout = 3

    func run() async throws {
        // A refused connection is an answer: fail at once instead of retrying until the timeout.
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let status = await Self.ask(url, client: client, timeout: .seconds(Int64(timeout)))
        try? await client.shutdown()
        if status != 0 { throw ExitCode(status) }
    }

    /// 0 when `url` answers 2xx; 1 otherwise (printed).
    static func ask(_ url: String, client: HTTPClient, timeout: TimeAmount) async -> Int32 {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        do {
            let response = try await client.execute(request, timeout: timeout)
            let text = String(buffer: try await response.body.collect(upTo: 64 << 10))
            guard (200..<300).contains(response.status.code) else {
                print("\(url): \(response.status.code) \(text.prefix(500))")
                return 1
            }
            print("\(url): \(response.status.code)")
            return 0
        } catch {
            print("\(url): \(error)")
            return 1
        }
    }
}
