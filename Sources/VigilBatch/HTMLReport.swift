import Foundation
import VigilDetection

/// A run's report as one self-contained HTML page (inline CSS, SVG and script; nothing
/// fetched, so it opens offline and from an e-mail attachment): the counts, a timeline of
/// anomalies per hour by severity, a sortable table of anomalies, and the files with their
/// errors.
struct HTMLReport {
    let summary: BatchRunSummary

    init(_ summary: BatchRunSummary) { self.summary = summary }

    static let severities: [Severity] = [.critical, .high, .medium, .low]
    static let colors: [Severity: String] = [
        .critical: "#7b1fa2", .high: "#d32f2f", .medium: "#f57c00", .low: "#1976d2",
    ]

    var html: String {
        var page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Vigil batch run \(escape(summary.runID))</title>
            <style>\(Self.style)</style></head><body>
            <h1>Vigil batch run <code>\(escape(summary.runID))</code></h1>
            <p class="meta">Started \(escape(BatchRunSummary.timestamp(summary.started))) · \(summary.files.count) files · \
            \(summary.records) records · \(summary.events) events · \(summary.unreadableRecords) unreadable · \
            model \(escape(summary.model ?? "none (rules and online baselines)"))\(summary.stopped ? " · <b>stopped early</b>" : "")</p>

            """
        page += counts()
        page += timeline()
        page += table()
        page += files()
        page += "<script>\(Self.script)</script></body></html>\n"
        return page
    }

    private func counts() -> String {
        let bySeverity = summary.anomaliesBySeverity
        var cells =
            "<div class=\"cards\"><div class=\"card\"><div class=\"n\" id=\"total\">\(summary.anomalies)</div>anomalies</div>"
        for severity in Self.severities {
            cells +=
                "<div class=\"card\" style=\"border-color:\(Self.colors[severity] ?? "#999")\"><div class=\"n\">\(bySeverity[severity, default: 0])</div>\(severity.rawValue)</div>"
        }
        cells += "<div class=\"card\"><div class=\"n\">\(summary.errors.count)</div>errors</div></div>\n"
        return cells
    }

    /// Stacked bars per hour (UTC), one colour per severity, hours without anomalies included.
    private func timeline() -> String {
        let rows = summary.anomalyRows
        guard let first = rows.map(\.time).min(), let last = rows.map(\.time).max() else {
            return "<h2>Timeline</h2><p>No anomalies in this run.</p>\n"
        }
        let hour: Int64 = 3_600_000
        let start = first.dividedFloor(by: hour)
        let end = last.dividedFloor(by: hour)
        // Too many hours for one bar each: bars of several hours.
        let span = Int(min(end - start + 1, 100_000))
        let perBar = max(1, (span + 239) / 240)
        let bars = (span + perBar - 1) / perBar
        var counts = [[Severity: Int]](repeating: [:], count: bars)
        for row in rows {
            let index = min(bars - 1, Int(row.time.dividedFloor(by: hour) - start) / perBar)
            counts[index][row.severity, default: 0] += 1
        }
        let highest = max(1, counts.map { $0.values.reduce(0, +) }.max() ?? 1)
        let width = 900.0
        let height = 180.0
        let barWidth = width / Double(bars)
        var svg =
            "<svg id=\"timeline\" role=\"img\" aria-label=\"anomalies per hour by severity\" viewBox=\"0 0 \(Int(width)) \(Int(height) + 40)\" width=\"100%\" preserveAspectRatio=\"none\">"
        svg += "<line x1=\"0\" y1=\"\(height)\" x2=\"\(width)\" y2=\"\(height)\" stroke=\"#888\"/>"
        for (index, bar) in counts.enumerated() {
            var y = height
            let label = Self.hourLabel((start + Int64(index * perBar)) * hour)
            for severity in Self.severities.reversed() {
                let n = bar[severity, default: 0]
                guard n > 0 else { continue }
                let h = height * Double(n) / Double(highest)
                y -= h
                svg +=
                    "<rect class=\"bar\" x=\"\(fmt(Double(index) * barWidth))\" y=\"\(fmt(y))\" width=\"\(fmt(max(1, barWidth - 1)))\" height=\"\(fmt(h))\" fill=\"\(Self.colors[severity] ?? "#999")\"><title>\(label): \(n) \(severity.rawValue)</title></rect>"
            }
        }
        let ticks = min(bars, 6)
        for tick in 0..<ticks {
            let index = ticks == 1 ? 0 : tick * (bars - 1) / (ticks - 1)
            svg +=
                "<text x=\"\(fmt(Double(index) * barWidth))\" y=\"\(Int(height) + 16)\" font-size=\"11\">\(Self.hourLabel((start + Int64(index * perBar)) * hour))</text>"
        }
        svg +=
            "<text x=\"\(Int(width))\" y=\"12\" font-size=\"11\" text-anchor=\"end\">max \(highest) per \(perBar == 1 ? "hour" : "\(perBar) hours")</text></svg>"
        var legend = "<p class=\"legend\">"
        for severity in Self.severities {
            legend += "<span><i style=\"background:\(Self.colors[severity] ?? "#999")\"></i>\(severity.rawValue)</span>"
        }
        legend += " (UTC)</p>"
        return "<h2>Timeline</h2>\(svg)\(legend)\n"
    }

    private func table() -> String {
        var html = "<h2>Anomalies</h2>"
        if summary.anomalyRows.isEmpty { return html + "<p>None.</p>\n" }
        html += "<p class=\"hint\">Click a column to sort.</p><table id=\"anomalies\"><thead><tr>"
        for (key, title) in [
            ("time", "Time (UTC)"), ("severity", "Severity"), ("detector", "Detector"), ("entity", "Entity"),
            ("summary", "Why"), ("technique", "ATT&amp;CK"), ("file", "File"),
        ] {
            html += "<th data-key=\"\(key)\" tabindex=\"0\">\(title)</th>"
        }
        html += "</tr></thead><tbody>"
        let rank: [Severity: Int] = [.critical: 4, .high: 3, .medium: 2, .low: 1]
        for row in summary.anomalyRows {
            html += "<tr data-id=\"\(escape(row.id))\">"
            html += "<td data-sort=\"\(row.time)\">\(escape(Self.timeLabel(row.time)))</td>"
            html +=
                "<td data-sort=\"\(rank[row.severity, default: 0])\"><span class=\"sev\" style=\"background:\(Self.colors[row.severity] ?? "#999")\">\(row.severity.rawValue)</span></td>"
            html +=
                "<td>\(escape(row.detector.rawValue))</td><td>\(escape(row.entity))</td><td>\(escape(row.summary))</td>"
            if let technique = row.technique {
                let path = technique.replacingOccurrences(of: ".", with: "/")
                html +=
                    "<td><a href=\"https://attack.mitre.org/techniques/\(escape(path))/\">\(escape(technique))</a></td>"
            } else {
                html += "<td></td>"
            }
            html += "<td>\(escape(row.file))</td></tr>"
        }
        html += "</tbody></table>"
        if summary.anomalyRowsOmitted > 0 {
            html +=
                "<p class=\"hint\">\(summary.anomalyRowsOmitted) more anomalies are in the JSON reports (the page lists the first \(summary.anomalyRows.count)).</p>"
        }
        return html + "\n"
    }

    private func files() -> String {
        var html = "<h2>Files</h2><table id=\"files\"><thead><tr><th>File</th><th>Status</th><th>Bytes read</th>"
        html += "<th>Records</th><th>Anomalies</th><th>Unreadable</th><th>Problem</th></tr></thead><tbody>"
        for file in summary.files {
            let problem = file.failure ?? file.notes.joined(separator: "; ")
            html += "<tr class=\"\(file.failure == nil ? "" : "failed")\"><td>\(escape(file.path))</td>"
            html += "<td>\(file.status.rawValue)</td><td>\(file.fromOffset)–\(file.toOffset)</td>"
            html +=
                "<td>\(file.records)</td><td>\(file.anomalies)</td><td>\(file.errorCount)</td><td>\(escape(problem))</td></tr>"
        }
        for problem in summary.problems {
            html +=
                "<tr class=\"failed\"><td>\(escape(problem.path))</td><td>failed</td><td></td><td></td><td></td><td></td>"
            html += "<td>\(escape(problem.reason))</td></tr>"
        }
        return html + "</tbody></table>\n"
    }

    private func fmt(_ value: Double) -> String { String(format: "%.1f", value) }

    static func hourLabel(_ ms: Int64) -> String { String(timeLabel(ms).prefix(13)) + "h" }

    static func timeLabel(_ ms: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000)).replacingOccurrences(
            of: "T", with: " ")
    }

    private func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static let style = """
        body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
        h1{font-size:20px}h2{font-size:16px;margin-top:28px}.meta,.hint{color:#555}
        .cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:2px solid #ccc;border-radius:6px;padding:8px 14px;min-width:80px}
        .card .n{font-size:22px;font-weight:600}
        table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
        th{cursor:pointer;background:#f4f4f4;user-select:none}th.asc::after{content:" ▲"}th.desc::after{content:" ▼"}
        .sev{color:#fff;border-radius:3px;padding:0 5px}tr.failed td{background:#fff3f3}
        .legend span{margin-right:14px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
        svg{border:1px solid #eee;max-height:240px}
        """

    /// Sorting by the clicked column: by `data-sort` when a cell has it (time, severity rank),
    /// else by its text; a second click reverses. `#sort=<column>[-desc]` in the address
    /// sorts on load (a link to a sorted view).
    static let script = """
        document.querySelectorAll('#anomalies th').forEach(function (th, column) {
          function sort() {
            var table = th.closest('table'), body = table.tBodies[0];
            var ascending = !th.classList.contains('asc');
            table.querySelectorAll('th').forEach(function (h) { h.classList.remove('asc', 'desc'); });
            th.classList.add(ascending ? 'asc' : 'desc');
            var rows = Array.prototype.slice.call(body.rows);
            rows.sort(function (a, b) {
              var x = a.cells[column], y = b.cells[column];
              var p = x.dataset.sort, q = y.dataset.sort;
              var c = (p !== undefined && q !== undefined) ? Number(p) - Number(q) : x.textContent.localeCompare(y.textContent);
              return ascending ? c : -c;
            });
            rows.forEach(function (r) { body.appendChild(r); });
          }
          th.addEventListener('click', sort);
          th.addEventListener('keydown', function (e) { if (e.key === 'Enter') sort(); });
        });
        // A link can carry a sorted view: report.html#sort=severity-desc.
        (function () {
          var m = /sort=([a-z]+)(-desc)?/.exec(location.hash);
          var th = m && document.querySelector('#anomalies th[data-key="' + m[1] + '"]');
          if (th) { th.click(); if (m[2]) th.click(); }
        })();
        """
}

extension Int64 {
    /// Division rounding toward negative infinity (hours before 1970 too).
    func dividedFloor(by divisor: Int64) -> Int64 {
        let (q, r) = quotientAndRemainder(dividingBy: divisor)
        return r < 0 ? q - 1 : q
    }
}
