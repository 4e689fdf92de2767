import ArgumentParser
import Foundation
import Logging
import VigilAnalysis
import VigilDetection
import VigilKafka

/// `vigil produce`: send log files to a topic, one record per line (or per JSON array element
/// or object), gzip-compressed files included.
struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Send log files to a Kafka topic, one record per line.",
        discussion: """
            Records are keyed by host (default), user, source address, or not at all. \
            `vigil stream` finds attacks whatever the keys (its default topology re-keys events \
            itself); with `topology: single` key by host, so related events share a partition. \
            Order within a partition is the file's.
            """
    )

    @Argument(help: "Log files or directories.") var files: [String]
    @Option(name: .long) var topic = "raw-logs"
    @Option(name: .long, help: "host, user, source or none.") var key = "host"
    @Option(name: .long, help: "Records per second (0: as fast as possible).") var rate = 0
    @OptionGroup var broker: BrokerOptions
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        guard ["host", "user", "source", "none"].contains(key) else {
            throw ValidationError("--key: expected host, user, source or none")
        }
        let logger = try logging.makeLogger(label: "vigil.produce")
        var config = ProducerConfiguration(bootstrapServers: broker.resolved)
        config.linger = .milliseconds(20)
        let producer = try KafkaProducer(configuration: config, observer: KafkaClientObserver(logger: logger))
        var sent = 0
        var failed = 0
        var pending: [ProducerMessage] = []
        let started = Date()
        func send() async {
            let results = await producer.send(pending)
            for result in results { if case .failure = result { failed += 1 } else { sent += 1 } }
            pending.removeAll(keepingCapacity: true)
        }
        let inputs: [LogInput]
        do { inputs = try LogInput.files(files) } catch { throw CommandFailure("\(error)") }
        for input in inputs {
            var problems = 0
            do {
                var reader = try RecordReader(input)
                var batch: [[UInt8]] = []
                while try reader.next({ item in
                    switch item {
                    case .record(let record): batch.append(Array(record.bytes))
                    case .error(_, let line, let reason):
                        problems += 1
                        logger.warning("\(input.name)\(line.map { ":\($0)" } ?? ""): \(reason); not sent")
                    }
                }) {
                    for value in batch {
                        pending.append(ProducerMessage(topic: topic, key: recordKey(value), value: value))
                        if pending.count >= 5_000 { await send() }
                        if rate > 0 {
                            let due = Double(sent + pending.count) / Double(rate)
                            let elapsed = Date().timeIntervalSince(started)
                            if due > elapsed {
                                await send()
                                try await Task.sleep(for: .milliseconds(Int((due - elapsed) * 1000)))
                            }
                        }
                    }
                    batch.removeAll(keepingCapacity: true)
                }
            } catch let error as InputError {
                throw CommandFailure("\(error)")
            }
            failed += problems
        }
        await send()
        producer.close(timeout: .seconds(30))
        print("sent \(sent) records to \(topic)\(failed > 0 ? ", \(failed) failed" : "")")
        if failed > 0 { throw ExitCode(1) }
    }

    private func recordKey(_ value: [UInt8]) -> [UInt8]? {
        guard key != "none" else { return nil }
        let event = value.withUnsafeBufferPointer {
            LogParser.parseRecord($0, options: ParseOptions(referenceTime: 0, fallbackTime: 0))
        }.events.first
        let field: String? =
            switch key {
            case "host": event?.host
            case "user": event?.user
            default: event?.sourceIP
            }
        return field.map { Array($0.utf8) }
    }
}

/// `vigil consume`: print a topic's records (to watch anomalies flow).
struct ConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Print the records of a Kafka topic as they arrive (values, one per line).",
        discussion:
            "Reads without joining a group and commits nothing. Stops after --limit records or --idle seconds without any."
    )

    @Option(name: .long) var topic = "security-anomalies"
    @Option(name: .long, help: "Stop after this many records (0: never).") var limit = 0
    @Option(name: .long, help: "Stop after this many seconds without records (0: never).") var idle = 0
    @Flag(name: .long, help: "Print summaries instead of JSON (anomalies only).") var summary = false
    @OptionGroup var broker: BrokerOptions
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = try logging.makeLogger(label: "vigil.consume")
        let admin = try KafkaAdmin(
            configuration: AdminConfiguration(bootstrapServers: broker.resolved),
            observer: KafkaClientObserver(logger: logger))
        guard let description = try await admin.describeTopics([topic], timeout: .seconds(10)).first else {
            throw CommandFailure("topic \(topic) does not exist")
        }
        var config = ConsumerConfiguration(bootstrapServers: broker.resolved, groupID: "vigil-consume-\(getpid())")
        config.clientID = "vigil-consume"
        let consumer = try KafkaConsumer(configuration: config, observer: KafkaClientObserver(logger: logger))
        // From the beginning of every partition (-2 = RD_KAFKA_OFFSET_BEGINNING).
        try consumer.assign(description.partitions.map { TopicPartitionOffset(topic, $0.id, offset: -2) })
        var seen = 0
        var lastRecord = ContinuousClock.now
        while limit == 0 || seen < limit {
            guard let batch = await consumer.nextBatch(timeout: .seconds(1)) else {
                if idle > 0 && ContinuousClock.now - lastRecord > .seconds(idle) { break }
                continue
            }
            lastRecord = .now
            for record in batch {
                let value = String(decoding: record.value ?? [], as: UTF8.self)
                if summary, let line = AnomalyText.line(json: record.value.map(Array.init) ?? []) {
                    print(line)
                } else {
                    print(value)
                }
                seen += 1
                if limit > 0 && seen >= limit { break }
            }
        }
        try? await consumer.close(timeout: .seconds(5))
    }
}
