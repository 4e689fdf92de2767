import ArgumentParser
import AsyncHTTPClient
import Foundation

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
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(Int64(timeout)))
            let body = try await response.body.collect(upTo: 64 << 10)
            let text = String(buffer: body)
            guard (200..<300).contains(response.status.code) else {
                print("\(url): \(response.status.code) \(text.prefix(500))")
                throw ExitCode(1)
            }
            print("\(url): \(response.status.code)")
        } catch let exit as ExitCode {
            throw exit
        } catch {
            print("\(url): \(error)")
            throw ExitCode(1)
        }
    }
}
