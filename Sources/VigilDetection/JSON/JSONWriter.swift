/// Writes compact JSON with keys in the order they are written — output is byte-for-byte
/// stable for the same values (Foundation's encoder orders keys differently per run).
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = [false]

    public init(capacity: Int = 512) { bytes.reserveCapacity(capacity) }

    public var string: String { String(decoding: bytes, as: UTF8.self) }

    private mutating func separator() {
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    public mutating func beginObject() {
        separator()
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }

    public mutating func endObject() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    public mutating func beginArray() {
        separator()
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
    }

    public mutating func endArray() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    /// Writes a key; the next value call writes its value (no comma between the two).
    public mutating func key(_ key: String) {
        separator()
        appendQuoted(key)
        bytes.append(UInt8(ascii: ":"))
        needsComma[needsComma.count - 1] = false
    }

    private mutating func valueSeparator() { separator() }

    public mutating func string(_ value: String) {
        valueSeparator()
        appendQuoted(value)
    }

    public mutating func int<T: BinaryInteger>(_ value: T) {
        valueSeparator()
        bytes.append(contentsOf: String(value).utf8)
    }

    /// Finite doubles in shortest round-trip form; non-finite ones as null (JSON has none).
    public mutating func double(_ value: Double) {
        valueSeparator()
        if value.isFinite {
            if value == value.rounded(), abs(value) < 1e15 {
                bytes.append(contentsOf: String(Int64(value)).utf8)
            } else {
                bytes.append(contentsOf: value.description.utf8)
            }
        } else {
            bytes.append(contentsOf: "null".utf8)
        }
    }

    public mutating func bool(_ value: Bool) {
        valueSeparator()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    public mutating func null() {
        valueSeparator()
        bytes.append(contentsOf: "null".utf8)
    }

    public mutating func field(_ name: String, _ value: String?) {
        guard let value else { return }
        key(name)
        string(value)
    }

    public mutating func field<T: BinaryInteger>(_ name: String, _ value: T?) {
        guard let value else { return }
        key(name)
        int(value)
    }

    public mutating func field(_ name: String, _ value: Double?) {
        guard let value else { return }
        key(name)
        double(value)
    }

    public mutating func value(_ value: EvidenceValue) {
        switch value {
        case .int(let v): int(v)
        case .double(let v): double(v)
        case .string(let v): string(v)
        case .bool(let v): bool(v)
        case .time(let v): string(UTC.format(v))
        case .strings(let values):
            beginArray()
            for v in values { string(v) }
            endArray()
        case .object(let fields):
            beginObject()
            for (k, v) in fields {
                key(k)
                self.value(v)
            }
            endObject()
        case .null: null()
        }
    }

    /// `name` with an object of counts in key order (anomalies by detector, by severity).
    public mutating func counts<Key: RawRepresentable & Comparable>(_ name: String, _ counts: [Key: Int])
    where Key.RawValue == String {
        key(name)
        value(.object(counts.sorted { $0.key < $1.key }.map { ($0.key.rawValue, .int($0.value)) }))
    }

    /// A value already encoded as JSON (an anomaly from ``AnomalyJSON``), written as it is.
    public mutating func raw(_ json: [UInt8]) {
        valueSeparator()
        bytes.append(contentsOf: json)
    }

    /// An object value for the pending key.
    public mutating func objectValue(_ body: (inout JSONWriter) -> Void) {
        beginObject()
        body(&self)
        endObject()
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func appendQuoted(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "\""):
                bytes.append(0x5C)
                bytes.append(b)
            case UInt8(ascii: "\\"):
                bytes.append(0x5C)
                bytes.append(b)
            case 0x0A:
                bytes.append(0x5C)
                bytes.append(UInt8(ascii: "n"))
            case 0x0D:
                bytes.append(0x5C)
                bytes.append(UInt8(ascii: "r"))
            case 0x09:
                bytes.append(0x5C)
                bytes.append(UInt8(ascii: "t"))
            case 0..<0x20, 0x7F:
                bytes.append(contentsOf: "\\u00".utf8)
                bytes.append(Self.hex[Int(b >> 4)])
                bytes.append(Self.hex[Int(b & 0xF)])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
