import ArgumentParser
import Dispatch
import Foundation
import Logging
import Synchronization
import UnixSignals
import VigilAlerts
import VigilAnalysis
import VigilBatch
import VigilDetection
import VigilLogging
import VigilSettings

/// `vigil batch`: analyse a log folder once per content, on a schedule or once.
struct BatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Analyse every new log in a folder: per-file JSON reports, a run summary and an HTML report.",
        discussion: """
            Each content is analysed once: output_dir/state.json records how far every file was read, so a re-run \
            reports nothing twice, a grown file continues where it stopped (with its detector state), and rotated \
            or truncated files are recognised. Reports go to output_dir/reports/, each run's summary.json and \
            report.html to output_dir/runs/<run id>/. With --interval (or BATCH_INTERVAL) it keeps running and \
            re-scans; SIGINT/SIGTERM stop it at a record boundary, the state saved.
            Exit status: 0 ran clean; 1 some files or folders could not be read (the rest was analysed); 2 the run \
            could not happen (log folder missing, state unreadable, output not writable); 3 anomalies were found \
            and --fail-on-anomalies is set; 64 bad usage or settings.
            """
    )

    @Option(name: .long, help: "YAML config file (env VIGIL_CONFIG).") var config: String?
    @Flag(name: .long, help: "Print the effective configuration and exit.") var printConfig = false
    @Flag(name: .long, help: "Run once and exit, whatever interval is set.") var once = false
    @OptionGroup var flags: BatchFlags

    func settings() throws -> BatchSettings {
        var settings = BatchSettings()
        do {
            try BatchSettings.loader.apply(
                file: config, environment: ProcessInfo.processInfo.environment, flags: flags.values, to: &settings)
        } catch {
            throw ValidationError("\(error)")
        }
        if once { settings.batch.intervalSeconds = 0 }
        return settings
    }

    func run() async throws {
        let settings = try self.settings()
        if printConfig {
            print(settings.yaml, terminator: "")
            return
        }
        let logger = VigilLogging.logger("vigil.batch", configuration: settings.logging)
        let model: DetectionModel?
        do { model = try settings.model.load() } catch {
            logger.error("\(error)")
            throw ExitCode(2)
        }
        let alerts = try settings.alertsFile.map { file in
            try AlertOutboxWiring(
                file: file, outboxDirectory: "\(settings.batch.outputDirectory)/alerts",
                brokers: ProcessInfo.processInfo.environment["VIGIL_BROKERS"], logger: logger)
        }
        defer { alerts?.close() }
        let processor = BatchProcessor(
            configuration: settings.batch,
            analyzer: Analyzer(
                model: model, modelName: settings.model.directory, maxErrors: settings.batch.maxErrorsPerFile),
            outbox: alerts?.outbox)
        let stop = StopFlag()
        let signals = Task {
            for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                logger.notice("\(signal): stopping at the next record boundary")
                stop.set()
                alerts?.delivery.stop()
                break
            }
        }
        defer { signals.cancel() }
        let drawProgress =
            switch settings.progress {
            case .always: true
            case .never: false
            case .auto: isatty(STDERR_FILENO) == 1
            }
        let interval = settings.batch.intervalSeconds
        // Scheduled: alerts are delivered while the next scans run. Once: after the run.
        let background: Task<Void, Never>? =
            interval > 0 ? alerts.map { wiring in Task { await wiring.delivery.deliverUntilStopped() } } : nil
        defer {
            alerts?.delivery.stop()
            background?.cancel()
        }
        if interval > 0 {
            logger.info(
                "scanning \(settings.batch.logDirectory) every \(interval) s; reports in \(settings.batch.outputDirectory)"
            )
        }
        while true {
            let result = await Self.runOnce(processor, stop: stop, drawProgress: drawProgress)
            switch result {
            case .failure(let error):
                logger.error("run failed: \(error)")
                if interval == 0 { throw ExitCode(2) }
            case .success(let summary):
                Self.log(summary, output: settings.batch.outputDirectory, logger: logger)
                if interval == 0 || stop.isSet {
                    let gaveUp = await Self.finish(alerts, background: background, logger: logger)
                    if !summary.errors.isEmpty || gaveUp > 0 { throw ExitCode(1) }
                    if settings.batch.failOnAnomalies && summary.anomalies > 0 { throw ExitCode(3) }
                    return
                }
            }
            // Sleep until the next scan, waking for a signal.
            let deadline = ContinuousClock.now + .seconds(interval)
            while !stop.isSet, ContinuousClock.now < deadline {
                try? await Task.sleep(for: min(.milliseconds(500), deadline - .now))
            }
            if stop.isSet {
                _ = await Self.finish(alerts, background: background, logger: logger)
                return
            }
        }
    }

    /// Delivers what the run staged (once) or ends the scheduled delivery; the alerts given up.
    static func finish(_ alerts: AlertOutboxWiring?, background: Task<Void, Never>?, logger: Logger) async -> Int {
        guard let alerts else { return 0 }
        let totals: OutboxTotals
        if let background {
            alerts.delivery.stop()
            await background.value
            totals = alerts.delivery.done
        } else {
            totals = await alerts.delivery.deliverAll()
        }
        log(totals, outbox: alerts.outbox, logger: logger)
        return totals.gaveUp + totals.unreadable
    }

    /// One run, off Swift's cooperative pool (it reads and computes without suspending).
    static func runOnce(
        _ processor: BatchProcessor, stop: StopFlag, drawProgress: Bool
    ) async -> Result<
        BatchRunSummary, BatchError
    > {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var bar = drawProgress ? ProgressBar() : nil
                let result = Result { () throws(BatchError) in
                    try processor.run(stop: { stop.isSet }, progress: { bar?.draw($0) })
                }
                bar?.end()
                continuation.resume(returning: result)
            }
        }
    }

    static func log(_ totals: OutboxTotals, outbox: AlertOutbox, logger: Logger) {
        let left = outbox.released().count
        let line =
            "alerts: \(totals.delivered) delivered, \(totals.gaveUp) given up\(totals.gaveUp > 0 ? " (in \(outbox.undeliveredPath))" : ""), \(left) segments left for the next run"
        if totals.gaveUp > 0 || totals.unreadable > 0 || left > 0 {
            logger.warning("\(line)")
        } else {
            logger.info("\(line)")
        }
    }

    static func log(_ summary: BatchRunSummary, output: String, logger: Logger) {
        for file in summary.files where file.status != .unchanged {
            let line =
                "\(file.path): \(file.status.rawValue), bytes \(file.fromOffset)–\(file.toOffset), \(file.records) records, \(file.events) events, \(file.anomalies) anomalies, \(file.errorCount) unreadable"
            let notes = file.notes.isEmpty ? "" : " (\(file.notes.joined(separator: "; ")))"
            if let failure = file.failure {
                logger.warning("\(line) — \(failure)\(notes)")
            } else {
                logger.info("\(line)\(notes)")
            }
        }
        for problem in summary.problems { logger.warning("\(problem.path): \(problem.reason)") }
        let counts = Dictionary(grouping: summary.files, by: \.status).mapValues(\.count)
            .sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) \($0.value)" }
            .joined(separator: ", ")
        let bySeverity = summary.anomaliesBySeverity.sorted { $0.key > $1.key }.map { "\($0.key.rawValue) \($0.value)" }
            .joined(separator: ", ")
        logger.info(
            "run \(summary.runID): \(summary.files.count) files (\(counts.isEmpty ? "none" : counts)), \(summary.events) events, \(summary.anomalies) anomalies\(bySeverity.isEmpty ? "" : " (\(bySeverity))"), \(summary.errors.count) errors\(summary.stopped ? ", stopped early" : ""); report: \(output)/runs/\(summary.runID)/report.html"
        )
    }
}

/// Set once by a signal, read by the run between chunks.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}

/// A one-line progress bar on standard error, redrawn at most five times a second.
struct ProgressBar {
    private var lastDraw = ContinuousClock.now - .seconds(1)
    private var drawn = false

    mutating func draw(_ progress: BatchProgress) {
        let now = ContinuousClock.now
        guard now - lastDraw >= .milliseconds(200) else { return }
        lastDraw = now
        let fraction = progress.bytesTotal > 0 ? min(1, Double(progress.bytesDone) / Double(progress.bytesTotal)) : 1
        let width = 24
        let filled = Int(fraction * Double(width))
        let seconds = max(
            0.001, Double(progress.elapsed.components.seconds) + Double(progress.elapsed.components.attoseconds) / 1e18)
        let rate = Double(progress.events) / seconds
        let name = progress.current.map { " " + String($0.suffix(40)) } ?? ""
        let line = String(
            format: "\r[%@%@] %d/%d files  %.1f/%.1f MiB  %.0f events/s%@\u{1B}[K",
            String(repeating: "#", count: filled), String(repeating: ".", count: width - filled),
            progress.filesDone, progress.filesTotal, Double(progress.bytesDone) / 1_048_576,
            Double(progress.bytesTotal) / 1_048_576, rate, name)
        FileHandle.standardError.write(Data(line.utf8))
        drawn = true
    }

    func end() {
        if drawn { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// The flags of `vigil batch`, named and explained by ``BatchSettings/table``.
struct BatchFlags: ParsableArguments {
    private static func name(_ key: String) -> NameSpecification { SettingFlags.name(BatchSettings.setting(key)) }
    private static func help(_ key: String) -> ArgumentHelp { SettingFlags.help(BatchSettings.setting(key)) }

    @Option(name: name("log_dir"), help: help("log_dir")) var logDir: String?
    @Option(name: name("output_dir"), help: help("output_dir")) var outputDir: String?
    @Option(name: name("include"), help: help("include")) var include: String?
    @Option(name: name("exclude"), help: help("exclude")) var exclude: String?
    @Option(name: name("interval"), help: help("interval")) var interval: String?
    @Option(name: name("settle_seconds"), help: help("settle_seconds")) var settleSeconds: String?
    @Option(name: name("model_dir"), help: help("model_dir")) var modelDir: String?
    @Option(name: name("max_report_rows"), help: help("max_report_rows")) var maxReportRows: String?
    @Option(name: name("max_errors_per_file"), help: help("max_errors_per_file")) var maxErrorsPerFile: String?
    @Flag(name: name("fail_on_anomalies"), help: help("fail_on_anomalies")) var failOnAnomalies = false
    @Option(name: name("progress"), help: help("progress")) var progress: String?
    @Option(name: name("alerts"), help: help("alerts")) var alerts: String?
    @Option(name: name("log_format"), help: help("log_format")) var logFormat: String?
    @Option(name: name("log_level"), help: help("log_level")) var logLevel: String?

    /// The flags given, as (setting key, value) in table order.
    var values: [(String, String)] {
        let all: [(String, String?)] = [
            ("log_dir", logDir), ("output_dir", outputDir), ("include", include), ("exclude", exclude),
            ("interval", interval), ("settle_seconds", settleSeconds), ("model_dir", modelDir),
            ("max_report_rows", maxReportRows), ("max_errors_per_file", maxErrorsPerFile),
            ("fail_on_anomalies", failOnAnomalies ? "true" : nil), ("progress", progress), ("alerts", alerts),
            ("log_format", logFormat), ("log_level", logLevel),
        ]
        return all.compactMap { key, value in value.map { (key, $0) } }
    }
}
