import Foundation
import Testing
import VigilAlerts
import VigilAnalysis
import VigilDetection
import VigilTesting

@testable import VigilBatch

/// sshd lines as Debian's auth.log has them (RFC 3164 time, host, pid), for attacks that are
/// found only when the lines before and after a run boundary are counted together.
enum AuthLog {
    /// `count` failed passwords for root from `source`, `spacing` seconds apart from `start`
    /// (seconds after 10:00:00 on 1 December).
    static func failures(
        _ count: Int, from source: String, start: Int, spacing: Int = 3, user: String = "root"
    )
        -> [String]
    {
        (0..<count).map { i in
            let t = start + i * spacing
            return String(
                format: "Dec  1 10:%02d:%02d web1 sshd[%d]: Failed password for %@ from %@ port %d ssh2",
                t / 60, t % 60, 4100 + i, user, source, 40_000 + i)
        }
    }

    /// Quiet lines: cron sessions, nothing an attack detector counts.
    static func quiet(_ count: Int, start: Int) -> [String] {
        (0..<count).map { i in
            let t = start + i
            return String(
                format:
                    "Dec  1 10:%02d:%02d web1 CRON[%d]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
                t / 60, t % 60, 7000 + i)
        }
    }
}

/// A log folder and an output folder in a temporary directory, and runs over them.
final class BatchFixture {
    let root = StreamHarness.temporaryDirectory()
    var logs: String { "\(root)/logs" }
    var output: String { "\(root)/out" }
    var configuration = BatchConfiguration()
    var outbox: AlertOutbox?

    init() throws {
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        configuration.logDirectory = logs
        configuration.outputDirectory = output
        configuration.settleSeconds = 0
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func write(_ name: String, _ lines: [String]) throws {
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: "\(logs)/\(name)"))
    }

    func append(_ name: String, _ lines: [String]) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(logs)/\(name)"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((lines.joined(separator: "\n") + "\n").utf8))
        try handle.close()
    }

    func run(stop: @escaping () -> Bool = { false }) throws -> BatchRunSummary {
        try BatchProcessor(configuration: configuration, analyzer: Analyzer(), outbox: outbox).run(stop: stop)
    }

    /// `state.json` and the detector snapshots as they are now (what a crash leaves of them).
    func savedState() throws -> (state: Data, snapshots: [(String, Data)]) {
        let state = try Data(contentsOf: URL(fileURLWithPath: "\(output)/state.json"))
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: "\(output)/state").map {
            ($0, try Data(contentsOf: URL(fileURLWithPath: "\(output)/state/\($0)")))
        }
        return (state, snapshots)
    }

    /// Puts back a ``savedState()``: as after a crash before the next state was written.
    func restore(_ saved: (state: Data, snapshots: [(String, Data)])) throws {
        try saved.state.write(to: URL(fileURLWithPath: "\(output)/state.json"))
        for (name, data) in saved.snapshots {
            try data.write(to: URL(fileURLWithPath: "\(output)/state/\(name)"))
        }
    }

    /// The anomaly ids in the outbox's segments with `ext` (`alerts` released, `staged`), per segment.
    func outboxIDs(_ ext: String) throws -> [[String]] {
        let directory = "\(output)/alerts"
        return try FileManager.default.contentsOfDirectory(atPath: directory).sorted().filter {
            $0.hasSuffix(".\(ext)")
        }
        .map { name in
            let text = try String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8)
            return text.split(separator: "\n").compactMap {
                ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any])?["id"] as? String
            }
        }
    }

    /// Every anomaly in every report: (id, detector, entity value), one entry per report line.
    func reported() throws -> [(id: String, detector: String, entity: String)] {
        let directory = "\(output)/reports"
        var all: [(String, String, String)] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        where name.hasSuffix(".json") {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)"))
            let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(name)")
            for anomaly in try #require(report["anomalies"] as? [[String: Any]]) {
                let entity = anomaly["entity"] as? [String: Any]
                all.append(
                    (
                        anomaly["id"] as? String ?? "", anomaly["detector"] as? String ?? "",
                        entity?["value"] as? String ?? ""
                    ))
            }
        }
        return all
    }

    /// The anomalies `vigil analyze` finds in one file holding all `lines`.
    static func whole(_ lines: [String], name: String = "auth.log") -> [Anomaly] {
        let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        return Analyzer().analyze([.bytes(bytes, name: name)]).anomalies
    }
}

@Suite("vigil batch: once per content")
struct BatchStateTests {
    @Test("a re-run reports nothing twice; an untouched file is not read again")
    func idempotent() throws {
        let fixture = try BatchFixture()
        try fixture.write("auth.log", AuthLog.quiet(5, start: 0) + AuthLog.failures(10, from: "203.0.113.7", start: 10))
        let first = try fixture.run()
        #expect(first.anomalies > 0)
        #expect(first.files.map(\.status) == [.new])
        let reported = try fixture.reported()
        #expect(reported.contains { $0.detector == "brute_force" && $0.entity.contains("203.0.113.7") })
        let second = try fixture.run()
        #expect(second.anomalies == 0)
        #expect(second.files.map(\.status) == [.unchanged])
        #expect(try fixture.reported().map(\.id) == reported.map(\.id))
        // The run folders hold a summary and a page each.
        let runs = try FileManager.default.contentsOfDirectory(atPath: "\(fixture.output)/runs")
        #expect(runs.count == 2)
        for run in runs {
            #expect(FileManager.default.fileExists(atPath: "\(fixture.output)/runs/\(run)/summary.json"))
            #expect(FileManager.default.fileExists(atPath: "\(fixture.output)/runs/\(run)/report.html"))
        }
    }

    @Test("a grown file is read from where it stopped, with its detector state: an attack across the boundary is found")
    func grown() throws {
        let fixture = try BatchFixture()
        // fail2ban's 5 in 10 minutes is brute force: 4 before the boundary are not.
        let before = AuthLog.failures(4, from: "198.51.100.9", start: 0, user: "deploy")
        let after = AuthLog.failures(5, from: "198.51.100.9", start: 15, user: "deploy")
        try fixture.write("auth.log", before)
        let first = try fixture.run()
        #expect(first.anomaliesByDetector[.bruteForce] == nil, "4 failures are not brute force yet")
        try fixture.append("auth.log", after)
        let second = try fixture.run()
        #expect(second.files.map(\.status) == [.grown])
        #expect(second.files.first?.fromOffset == first.files.first?.toOffset)
        #expect(second.files.first?.records == 5, "only the new lines are read")
        let found = try fixture.reported()
        let expected = BatchFixture.whole(before + after)
        #expect(expected.contains { $0.detector == .bruteForce })
        #expect(second.anomaliesByDetector[.bruteForce, default: 0] >= 1)
        // The same anomalies, with the same ids, as reading the whole file at once.
        #expect(Set(found.map(\.id)) == Set(expected.map(\.id)))
        #expect(found.count == expected.count)
    }

    @Test(
        "rotation by rename: the old file is not read again, the new one continues its state; compressed later, still known"
    )
    func rotated() throws {
        let fixture = try BatchFixture()
        try fixture.write("auth.log", AuthLog.failures(5, from: "192.0.2.44", start: 0))
        _ = try fixture.run()
        try FileManager.default.moveItem(atPath: "\(fixture.logs)/auth.log", toPath: "\(fixture.logs)/auth.log.1")
        try fixture.write("auth.log", AuthLog.failures(5, from: "192.0.2.44", start: 15))
        let second = try fixture.run()
        let statuses = Dictionary(uniqueKeysWithValues: second.files.map { ($0.path, $0.status) })
        #expect(statuses["auth.log.1"] == .unchanged)
        #expect(statuses["auth.log"] == .new)
        #expect(try fixture.reported().contains { $0.detector == "brute_force" && $0.entity.contains("192.0.2.44") })

        // logrotate's delaycompress, next time: auth.log.1 → auth.log.2.gz (a new file).
        let plain = try Data(contentsOf: URL(fileURLWithPath: "\(fixture.logs)/auth.log.1"))
        try Gzip.compress(plain).write(to: URL(fileURLWithPath: "\(fixture.logs)/auth.log.2.gz"))
        try FileManager.default.removeItem(atPath: "\(fixture.logs)/auth.log.1")
        let before = try fixture.reported().count
        let third = try fixture.run()
        let thirdStatuses = Dictionary(uniqueKeysWithValues: third.files.map { ($0.path, $0.status) })
        #expect(thirdStatuses["auth.log.2.gz"] == .rotated)
        #expect(third.files.first { $0.path == "auth.log.2.gz" }?.records == 0, "nothing new in it")
        #expect(third.anomalies == 0)
        #expect(try fixture.reported().count == before)
    }

    @Test("copytruncate: the copy continues the old content, the emptied file starts from its state")
    func copyTruncate() throws {
        let fixture = try BatchFixture()
        let part1 = AuthLog.failures(4, from: "203.0.113.50", start: 0)
        let part2 = AuthLog.failures(2, from: "203.0.113.50", start: 12)  // written after run 1, before rotation
        let part3 = AuthLog.failures(4, from: "203.0.113.50", start: 18)  // in the emptied auth.log
        try fixture.write("auth.log", part1)
        _ = try fixture.run()
        try fixture.append("auth.log", part2)
        // copytruncate: copy to auth.log.1, then cut auth.log to nothing; new lines arrive.
        try FileManager.default.copyItem(atPath: "\(fixture.logs)/auth.log", toPath: "\(fixture.logs)/auth.log.1")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(fixture.logs)/auth.log"))
        try handle.truncate(atOffset: 0)
        try handle.close()
        try fixture.append("auth.log", part3)
        let second = try fixture.run()
        let statuses = Dictionary(uniqueKeysWithValues: second.files.map { ($0.path, $0) })
        #expect(statuses["auth.log.1"]?.status == .rotated)
        #expect(statuses["auth.log.1"]?.records == 2, "only what was written after run 1")
        // Cut and written again past the old length: not told from a rewrite, and read the same way.
        #expect([FileStatus.truncated, .rewritten].contains(statuses["auth.log"]?.status ?? .new))
        let found = try fixture.reported()
        #expect(found.contains { $0.detector == "brute_force" && $0.entity.contains("203.0.113.50") })
        let expected = BatchFixture.whole(part1 + part2 + part3)
        #expect(
            Set(found.map { "\($0.detector) \($0.entity)" })
                == Set(expected.map { "\($0.detector.rawValue) \($0.entity.value)" }))
        #expect(Set(found.map(\.id)).count == found.count, "an id reported twice")
    }

    @Test("a file cut short or rewritten is read again from the start")
    func truncated() throws {
        let fixture = try BatchFixture()
        try fixture.write("app.log", AuthLog.quiet(20, start: 0))
        _ = try fixture.run()
        try fixture.write("app.log", AuthLog.failures(9, from: "192.0.2.200", start: 0))
        let second = try fixture.run()
        #expect([FileStatus.truncated, .rewritten].contains(second.files.first?.status ?? .new))
        #expect(second.files.first?.fromOffset == 0)
        #expect(second.files.first?.records == 9)
        #expect(second.anomalies > 0)
        // Same length, other bytes: rewritten.
        let length = try FileManager.default.attributesOfItem(atPath: "\(fixture.logs)/app.log")[.size] as? Int ?? 0
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(fixture.logs)/app.log")))
        bytes[0] = UInt8(ascii: "N")  // "Nec  1 …": another content, same size
        try Data(bytes).write(to: URL(fileURLWithPath: "\(fixture.logs)/app.log"))
        #expect(bytes.count == length)
        let third = try fixture.run()
        #expect(third.files.first?.status == .rewritten)
        #expect(third.files.first?.fromOffset == 0)
    }

    @Test(
        "a crash after the results and before the state: the next run redoes the part under the same report, nothing twice"
    )
    func crashBetweenResultsAndState() throws {
        let fixture = try BatchFixture()
        try fixture.write("auth.log", AuthLog.failures(4, from: "198.51.100.77", start: 0))
        _ = try fixture.run()
        // What a crash after run 2's results and snapshot, before its state, leaves on disk:
        // run 1's state and snapshot, run 2's reports and snapshot.
        let saved = try fixture.savedState()
        try fixture.append("auth.log", AuthLog.failures(6, from: "198.51.100.77", start: 12))
        let second = try fixture.run()
        #expect(second.anomalies > 0)
        let reportsAfter = try fixture.reported()
        try fixture.restore(saved)
        let third = try fixture.run()
        #expect(third.files.first?.status == .grown)
        #expect(third.anomalies == second.anomalies, "the part is redone")
        let reportsNow = try fixture.reported()
        #expect(reportsNow.map(\.id).sorted() == reportsAfter.map(\.id).sorted(), "an anomaly reported twice, or lost")
        let fourth = try fixture.run()
        #expect(fourth.anomalies == 0)
    }

    @Test(
        "alerts are staged with the results and released with the state: a crash before the state re-stages them (none twice), one after it releases them (none lost)"
    )
    func alertsAcrossCrashes() throws {
        let fixture = try BatchFixture()
        fixture.outbox = try AlertOutbox(directory: "\(fixture.output)/alerts")
        try fixture.write("auth.log", AuthLog.failures(8, from: "198.51.100.77", start: 0))
        let first = try fixture.run()
        #expect(first.anomalies > 0)
        #expect(
            try fixture.outboxIDs("alerts") == [try fixture.reported().map(\.id)], "one released segment, as reported")

        // A crash after run 2's results, snapshot and staged alerts, before its state.
        let saved = try fixture.savedState()
        try fixture.append("auth.log", AuthLog.failures(8, from: "203.0.113.9", start: 40))
        let second = try fixture.run()
        #expect(second.anomalies > 0)
        let alertsDir = "\(fixture.output)/alerts"
        let newest = try #require(
            try FileManager.default.contentsOfDirectory(atPath: alertsDir).filter { $0.hasSuffix(".alerts") }.max())
        try FileManager.default.moveItem(
            atPath: "\(alertsDir)/\(newest)", toPath: "\(alertsDir)/\(newest.dropLast(7)).staged")
        try fixture.restore(saved)
        let third = try fixture.run()
        #expect(third.anomalies == second.anomalies, "the part is redone")
        #expect(try fixture.outboxIDs("staged").isEmpty, "the stale staged alerts are dropped")
        var released = try fixture.outboxIDs("alerts").flatMap { $0 }
        #expect(released.sorted() == (try fixture.reported()).map(\.id).sorted(), "an alert twice, or lost")
        #expect(Set(released).count == released.count)

        // A crash after run 4's state, before its alerts were released.
        try fixture.append("auth.log", AuthLog.failures(8, from: "192.0.2.200", start: 80))
        let fourth = try fixture.run()
        #expect(fourth.anomalies > 0)
        let latest = try #require(
            try FileManager.default.contentsOfDirectory(atPath: alertsDir).filter { $0.hasSuffix(".alerts") }.max())
        try FileManager.default.moveItem(
            atPath: "\(alertsDir)/\(latest)", toPath: "\(alertsDir)/\(latest.dropLast(7)).staged")
        let fifth = try fixture.run()
        #expect(fifth.anomalies == 0, "nothing new to read")
        released = try fixture.outboxIDs("alerts").flatMap { $0 }
        #expect(try fixture.outboxIDs("staged").isEmpty, "released by the next run")
        #expect(released.sorted() == (try fixture.reported()).map(\.id).sorted())
        #expect(Set(released).count == released.count)
    }

    @Test("a stop between chunks ends the file at a record boundary; the next run reads the rest")
    func stoppedMidFile() throws {
        let fixture = try BatchFixture()
        // Over the 1 MiB chunk: several chunks.
        let lines = (0..<30).flatMap { AuthLog.quiet(1_000, start: $0) }
        try fixture.write("big.log", lines)
        var asked = 0
        let first = try fixture.run(stop: {
            asked += 1
            return asked > 2
        })
        #expect(first.stopped)
        let part = try #require(first.files.first)
        #expect(part.records > 0 && part.records < lines.count)
        let second = try fixture.run()
        #expect(second.files.first?.fromOffset == part.toOffset)
        #expect(part.records + (second.files.first?.records ?? 0) == lines.count)
    }

    @Test("a last line without its newline waits while the file is fresh, and is read once the file settles")
    func partialLastLine() throws {
        let fixture = try BatchFixture()
        fixture.configuration.settleSeconds = 3_600
        let lines = AuthLog.quiet(3, start: 0)
        try Data((lines.joined(separator: "\n")).utf8).write(to: URL(fileURLWithPath: "\(fixture.logs)/app.log"))
        let first = try fixture.run()
        #expect(first.files.first?.records == 2)
        #expect(first.files.first?.notes.contains { $0.contains("without a newline") } == true)
        fixture.configuration.settleSeconds = 0
        // Touched so that the run does not take it as unchanged.
        try fixture.append("app.log", [])
        let second = try fixture.run()
        #expect(second.files.first?.records == 1, "the held-back line, completed by the newline appended")
        _ = fixture
    }
}

@Suite("vigil batch: inputs and failures")
struct BatchInputTests {
    @Test("json, ndjson, jsonl, log and .gz are read, recursively; include and exclude globs select")
    func formats() throws {
        let fixture = try BatchFixture()
        try FileManager.default.createDirectory(atPath: "\(fixture.logs)/hosts/db1", withIntermediateDirectories: true)
        let event =
            #"{"timestamp":"2026-12-01T10:00:00Z","event_type":"login_failed","user":"alice","source_ip":"192.0.2.1","host":"db1"}"#
        try fixture.write("events.json", ["[\(event),\(event)]"])
        try fixture.write("events.ndjson", [event, event, event])
        try fixture.write("hosts/db1/events.jsonl", [event])
        try fixture.write("hosts/db1/auth.log", AuthLog.quiet(4, start: 0))
        try Gzip.compress(Data((AuthLog.quiet(6, start: 0).joined(separator: "\n") + "\n").utf8)).write(
            to: URL(fileURLWithPath: "\(fixture.logs)/hosts/old.log.3.gz"))
        try fixture.write("notes.md", ["# not a log"])
        let all = try fixture.run()
        let records = Dictionary(uniqueKeysWithValues: all.files.map { ($0.path, $0.records) })
        #expect(
            records == [
                "events.json": 2, "events.ndjson": 3, "hosts/db1/events.jsonl": 1, "hosts/db1/auth.log": 4,
                "hosts/old.log.3.gz": 6,
            ])

        let selective = try BatchFixture()
        try FileManager.default.createDirectory(atPath: "\(selective.logs)/a", withIntermediateDirectories: true)
        try selective.write("a/one.log", AuthLog.quiet(1, start: 0))
        try selective.write("a/debug.log", AuthLog.quiet(1, start: 0))
        try selective.write("two.txt", AuthLog.quiet(1, start: 0))
        selective.configuration.include = ["*.log"]
        selective.configuration.exclude = ["*debug*"]
        #expect(try selective.run().files.map(\.path) == ["a/one.log"])
        _ = selective
    }

    @Test("a truncated gzip and an unreadable file are listed with their reason; the other files are analysed")
    func failures() throws {
        let fixture = try BatchFixture()
        let lines = AuthLog.failures(10, from: "203.0.113.99", start: 0)
        let compressed = try Gzip.compress(Data((AuthLog.quiet(2_000, start: 0).joined(separator: "\n") + "\n").utf8))
        try compressed.prefix(compressed.count / 2).write(to: URL(fileURLWithPath: "\(fixture.logs)/cut.log.gz"))
        try fixture.write("auth.log", lines)
        try FileManager.default.createDirectory(atPath: "\(fixture.logs)/locked", withIntermediateDirectories: true)
        let summary = try fixture.run()
        let cut = try #require(summary.files.first { $0.path == "cut.log.gz" })
        #expect(
            cut.failure?.contains("gzip") == true || cut.failure?.contains("truncated") == true,
            "\(cut.failure ?? "none")")
        #expect(cut.records > 0, "what decompressed is analysed")
        #expect(summary.errors.contains { $0.path == "cut.log.gz" })
        #expect(summary.files.first { $0.path == "auth.log" }?.anomalies ?? 0 > 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(summary.json)) as? [String: Any])
        #expect((json["errors"] as? [[String: Any]])?.contains { $0["path"] as? String == "cut.log.gz" } == true)
    }

    @Test("a corrupt state file stops the run with its path and the way out; nothing is re-reported")
    func corruptState() throws {
        let fixture = try BatchFixture()
        try fixture.write("auth.log", AuthLog.quiet(2, start: 0))
        _ = try fixture.run()
        try Data("{\"version\":1,\"files\":[{\"id\":3}]}".utf8).write(
            to: URL(fileURLWithPath: "\(fixture.output)/state.json"))
        #expect {
            try fixture.run()
        } throws: { error in
            let text = "\(error)"
            return text.contains("state.json") && text.contains("files[0]") && text.contains("start over")
        }
    }

    @Test("the file name test: log extensions, rotation numbers, gzip; stems for rotation")
    func names() {
        for name in [
            "auth.log", "auth.log.1", "auth.log.2.gz", "syslog", "secure", "events.json", "a.ndjson", "b.JSONL",
            "x.txt",
        ] {
            #expect(LogFolder.isLogFile(name), "\(name)")
        }
        for name in ["notes.md", "archive.tar.gz", "image.png", "state.json.tmp-1"] {
            #expect(!LogFolder.isLogFile(name), "\(name)")
        }
        #expect(Planner.stem("auth.log.2.gz") == "auth.log")
        #expect(Planner.stem("auth.log-20261201") == "auth.log")
        #expect(Planner.stem("auth.log") == "auth.log")
    }
}

@Suite("vigil batch: the HTML report in a real browser")
struct BatchReportTests {
    @Test("headless Chromium renders every anomaly row, sorts the table by a click, and the page is not blank")
    func browser() async throws {
        let fixture = try BatchFixture()
        // Attacks over several hours: a timeline of more than one bar.
        var lines: [String] = []
        for (hour, source) in ["203.0.113.1", "203.0.113.2", "198.51.100.3"].enumerated() {
            lines += AuthLog.failures(10, from: source, start: 0, user: "admin").map {
                $0.replacingOccurrences(of: "Dec  1 10:", with: "Dec  1 \(10 + hour):")
            }
        }
        try fixture.write("auth.log", lines)
        let summary = try fixture.run()
        #expect(summary.anomalies >= 3)
        let page = "\(fixture.output)/runs/\(summary.runID)/report.html"
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(!html.contains("http://") && !html.contains("src=\"http"), "the page must not load anything")
        let chromium = try #require(
            Chromium(profile: "\(fixture.root)/profile"), "chromium is not installed (scripts/systools installs it)")
        let (status, dom) = try await chromium.dom("file://\(page)")
        #expect(status == 0, "\(dom.suffix(2000))")
        let ids = try fixture.reported().map(\.id)
        for id in ids { #expect(dom.contains("data-id=\"\(id)\""), "anomaly \(id) has no row") }
        #expect(dom.components(separatedBy: "<tr data-id=").count - 1 == summary.anomalies)
        #expect(
            dom.components(separatedBy: "class=\"bar\"").count - 1 >= 3, "the timeline has a bar per hour and severity")
        // Sorted by the page's own click handler (the address asks for two clicks: descending).
        let (_, sorted) = try await chromium.dom("file://\(page)#sort=time-desc")
        let times = sorted.components(separatedBy: "<tr data-id=").dropFirst().compactMap { row -> Int64? in
            guard let start = row.range(of: "data-sort=\"") else { return nil }
            return Int64(row[start.upperBound...].prefix { $0.isNumber })
        }
        #expect(times.count == summary.anomalies)
        #expect(times == times.sorted(by: >), "rows not in descending time: \(times)")
        #expect(times != times.sorted(), "the written order is ascending; the sort must have changed it")
        #expect(sorted.contains("class=\"desc\""), "the sorted column is marked")
        let (shot, blank) = try await chromium.screenshotSizes("file://\(page)", in: fixture.root)
        #expect(blank > 0, "no screenshot of a blank page")
        #expect(shot > 4 * blank, "report screenshot \(shot) bytes, blank \(blank) bytes")
    }
}
