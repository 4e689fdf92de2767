import Synchronization
import VigilKafka

/// What the stream does when the broker refuses a delivery for good (see
/// ``KafkaError/isPermanentDeliveryError``): in both cases the records stay uncommitted.
public enum PermanentErrorPolicy: String, Sendable, CaseIterable {
    /// Keep retrying (with backoff) while `/readyz` fails with the reason: an operator fixes
    /// the ACL or the topic and the stream carries on by itself.
    case retry
    /// Stop the stream (exit status 3), so the failure cannot go unnoticed.
    case exit
}

/// Permanent delivery failures per output topic, as long as they last: a later successful
/// delivery to the topic clears its entry. Readiness fails while any is present.
final class DeliveryProblems: Sendable {
    private let problems = Mutex<[String: String]>([:])
    private let first = Mutex<String?>(nil)

    /// A description of every current problem; nil when there is none.
    var summary: String? {
        problems.withLock { p in
            p.isEmpty ? nil : p.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
        }
    }

    /// The first permanent failure seen in this run (for the exit report).
    var firstProblem: String? { first.withLock { $0 } }

    /// Records a permanent failure; returns true if it is new for the topic (to log once).
    func report(topic: String, _ error: KafkaError) -> Bool {
        let text = "\(error.code.name): \(error.message)"
        first.withLock { if $0 == nil { $0 = "\(topic): \(text)" } }
        return problems.withLock { p in
            defer { p[topic] = text }
            return p[topic] == nil
        }
    }

    func delivered(topic: String) {
        problems.withLock { p in if !p.isEmpty { p[topic] = nil } }
    }
}
