import Foundation
import Testing
import VigilAlerts

@testable import VigilSettings

@Suite("vigil alert settings (alerts.yml)")
struct AlertSettingsTests {
    static let full = """
        brokers: kafka:9092
        group_id: soc-alerts
        give_up_after_s: 120
        sinks:
          - type: slack
            url: ${SLACK_URL}
            min_severity: high
          - type: splunk
            url: https://splunk:8088
            token: ${HEC_TOKEN}
            index: security
            ack: true
          - type: elasticsearch
            url: https://es:9200
            index: logs-vigil-default
            user: elastic
            password: ${ES_PASSWORD}
          - type: webhook
            name: soar
            url: https://soar/hook
            secret: whsec_c2VjcmV0
            detectors: [brute_force]
          - type: kafka
            topic: escalations
            min_severity: critical
        """
    static let environment = [
        "SLACK_URL": "https://hooks.slack.com/services/T/B/secretpath", "HEC_TOKEN": "hec-secret",
        "ES_PASSWORD": "es-secret",
    ]

    @Test("every sink type is read, ${NAME} from the environment; --print-config masks every secret")
    func full() throws {
        let settings = try AlertSettings.parse(Self.full, file: "alerts.yml", environment: Self.environment)
        #expect(settings.router.brokers == "kafka:9092" && settings.router.groupID == "soc-alerts")
        #expect(settings.policy.giveUpAfter == .seconds(120))
        #expect(settings.sinks.count == 5)
        guard case .slack(let slack) = settings.sinks[0], case .splunk(let splunk) = settings.sinks[1],
            case .webhook(let webhook) = settings.sinks[3], case .kafka(_, let topic, let filter) = settings.sinks[4]
        else {
            Issue.record("sink types: \(settings.sinks)")
            return
        }
        #expect(slack.url == Self.environment["SLACK_URL"] && slack.filter.minimumSeverity == .high)
        #expect(splunk.token == "hec-secret" && splunk.useAck && splunk.index == "security")
        #expect(webhook.name == "soar" && webhook.filter.detectors == ["brute_force"])
        #expect(topic == "escalations" && filter.minimumSeverity == .critical)
        let printed = settings.masked
        for secret in ["secretpath", "hec-secret", "es-secret", "c2VjcmV0"] {
            #expect(!printed.contains(secret), "\(secret) in --print-config:\n\(printed)")
        }
    }

    @Test(
        "errors name the file, the line and the key",
        arguments: [
            ("sinks:\n  - type: pagerduty\n    url: x\n", 2, "unknown sink type"),
            ("sinks:\n  - type: webhook\n    url: https://x\n", 2, "secret: missing"),
            (
                "sinks:\n  - type: slack\n    url: https://x\n    token: t\n", 4,
                "token is not a setting of a slack sink"
            ),
            (
                "sinks:\n  - type: slack\n    url: https://x\n    min_severity: urgent\n", 4,
                "expected low, medium, high or critical"
            ),
            (
                "sinks:\n  - type: webhook\n    url: https://x\n    secret: ${UNSET_SECRET}\n", 4,
                "UNSET_SECRET is not set"
            ),
            ("brokers: x\n", 1, "sinks: missing"),
            ("sinks:\n  - type: kafka\n    topic: a\n  - type: kafka\n    topic: b\n", 4, "two sinks named kafka"),
            ("retry_max_ms: soon\nsinks: []\n", 1, "retry_max_ms"),
        ])
    func errors(yaml: String, line: Int, message: String) {
        do {
            _ = try AlertSettings.parse(yaml, file: "alerts.yml", environment: [:])
            Issue.record("accepted:\n\(yaml)")
        } catch {
            let text = "\(error)"
            #expect(text.contains("alerts.yml:\(line)"), "\(text)")
            #expect(text.contains(message), "\(text)")
        }
    }

    @Test("a sink that reads well but cannot be built (secret not base64, URL not http) is named by its place in the list")
    func unbuildableSinks() throws {
        let yaml = """
            sinks:
              - type: webhook
                name: soar
                url: https://soar/hook
                secret: whsec_c2VjcmV0
              - type: webhook
                name: pager
                url: https://pager/hook
                secret: not base64!
              - type: slack
                url: hooks.slack.com/services/T/B/x
            """
        var settings = try AlertSettings.parse(yaml, file: "alerts.yml", environment: [:])
        #expect(throws: SinkConfigurationError("sinks[1]: webhook secret must be whsec_ followed by base64")) {
            try settings.makeSinks(producer: nil)
        }
        settings.sinks.remove(at: 1)
        #expect(
            throws: SinkConfigurationError(
                "sinks[1]: slack url must be http(s)://…, got \"hooks.slack.com/services/T/B/x\"")
        ) {
            try settings.makeSinks(producer: nil)
        }
    }
}
