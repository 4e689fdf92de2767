import ArgumentParser
import Foundation
import Logging
import VigilAlerts
import VigilKafka
import VigilSettings

/// The alert sinks of an `alerts.yml` behind an on-disk outbox, for the commands that alert
/// without Kafka in between (`vigil batch`, `vigil serve`).
struct AlertOutboxWiring {
    let outbox: AlertOutbox
    let delivery: OutboxDelivery
    /// For the Kafka sinks, when there are any; closed by ``close()``.
    let producer: KafkaProducer?

    /// Reads `file` (errors name its line and key: exit 64) and opens the outbox folder.
    init(file: String, outboxDirectory: String, brokers: String?, logger: Logger) throws {
        let environment = ProcessInfo.processInfo.environment
        var settings: AlertSettings
        do { settings = try AlertSettings.load(file: file, environment: environment) } catch {
            throw ValidationError("\(error)")
        }
        if let brokers { settings.router.brokers = brokers }
        do { outbox = try AlertOutbox(directory: outboxDirectory) } catch {
            throw CommandFailure("cannot open the alert outbox: \(error)")
        }
        do {
            producer = settings.needsProducer ? try AlertRouter.makeProducer(settings.router, logger: logger) : nil
        } catch {
            throw CommandFailure("cannot create the producer for the Kafka sinks: \(error)")
        }
        let sinks: [any AlertSink]
        do { sinks = try settings.makeSinks(producer: producer) } catch {
            throw ValidationError("\(file): \(error)")
        }
        delivery = OutboxDelivery(outbox: outbox, sinks: sinks, policy: settings.policy, logger: logger)
        logger.info(
            "alerts to \(sinks.map(\.name).joined(separator: ", ")) through \(outboxDirectory); given up: \(outbox.undeliveredPath)"
        )
    }

    /// Flushes the Kafka sinks' producer.
    func close() { _ = producer?.close(timeout: .seconds(10)) }
}
