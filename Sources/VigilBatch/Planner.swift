import Crypto
import Foundation
import VigilAnalysis

/// What a run does with each file, decided before reading any new content.
struct PlanStep {
    enum Action {
        /// Same size and modification time as when last read: nothing new.
        case unchanged
        /// Read: continuing `resume` from its offset (verified first), or from the start with
        /// the detector state of the content `inherit` (an id) when given.
        case read(FileStatus, resume: TrackedFile?, inherit: String?)
    }

    var file: FoundFile
    var entry: TrackedFile?
    var action: Action
}

/// Matches the files found against the state: the same file (device and inode), the same
/// content moved or copied elsewhere (its prefix hashes the same), or new.
struct Planner {
    let state: BatchState
    let found: [FoundFile]
    /// Most contents kept in the state; the oldest detached ones go first.
    static let maxTracked = 10_000

    /// The steps in the order they must run: continuations of moved content first (a new file
    /// at the old path starts from their state), then files read before, then new ones.
    /// Also the ids of contents that lost their file (their inode is freed for a new entry).
    func plan() -> (steps: [PlanStep], detached: [String]) {
        var byInode: [FileKey: TrackedFile] = [:]
        for entry in state.files where entry.inode != 0 {
            byInode[FileKey(device: entry.device, inode: entry.inode)] = entry
        }
        var continued: [PlanStep] = []
        var known: [PlanStep] = []
        var fresh: [PlanStep] = []
        var unknown: [FoundFile] = []
        // Contents whose file is gone or was cut short: their rest may be in a file not seen yet.
        var displaced: [TrackedFile] = []
        var seen = Set<FileKey>()
        for file in found {
            let key = FileKey(device: file.device, inode: file.inode)
            seen.insert(key)
            guard let entry = byInode[key] else {
                unknown.append(file)
                continue
            }
            if file.size == entry.size && file.modified == entry.modified && entry.complete
                && (entry.compressed || entry.offset == file.size)
            {
                known.append(PlanStep(file: file, entry: entry, action: .unchanged))
            } else if !Self.prefixMatches(file, entry) {
                // Cut short or rewritten (logrotate's copytruncate, `> file`): starts over with
                // the state of what it held; that content may go on in a copy.
                displaced.append(entry)
                let status: FileStatus = !entry.compressed && file.size < entry.offset ? .truncated : .rewritten
                fresh.append(PlanStep(file: file, entry: nil, action: .read(status, resume: nil, inherit: entry.id)))
            } else {
                known.append(PlanStep(file: file, entry: entry, action: .read(.grown, resume: entry, inherit: nil)))
            }
        }
        for entry in state.files
        where entry.inode != 0 && !seen.contains(FileKey(device: entry.device, inode: entry.inode)) {
            displaced.append(entry)
        }
        for entry in state.files where entry.inode == 0 { displaced.append(entry) }

        var claimed = Set<String>()
        for file in unknown {
            if let entry = match(file, displaced.filter { !claimed.contains($0.id) }) {
                claimed.insert(entry.id)
                continued.append(
                    PlanStep(file: file, entry: entry, action: .read(.rotated, resume: entry, inherit: nil)))
            } else {
                // A new file where moved content was (`auth.log` after rotation) continues its state.
                let predecessor = displaced.filter { $0.path == file.path }.max { $0.updated < $1.updated }
                fresh.append(
                    PlanStep(file: file, entry: nil, action: .read(.new, resume: nil, inherit: predecessor?.id)))
            }
        }
        let detached = displaced.filter { !claimed.contains($0.id) && $0.inode != 0 }.map(\.id)
        return (continued + known + fresh, detached)
    }

    /// The displaced content `file` continues: same name stem in the same folder, and the
    /// file's first bytes hash like that content's prefix.
    private func match(_ file: FoundFile, _ candidates: [TrackedFile]) -> TrackedFile? {
        let directory = (file.path as NSString).deletingLastPathComponent
        let stem = Self.stem((file.path as NSString).lastPathComponent)
        let likely = candidates.filter { entry in
            (entry.path as NSString).deletingLastPathComponent == directory
                && Self.stem((entry.path as NSString).lastPathComponent) == stem && entry.offset > 0
        }.sorted { $0.updated > $1.updated }
        for entry in likely {
            if Self.prefixMatches(file, entry) { return entry }
        }
        return nil
    }

    /// Whether the file's first `entry.offset` bytes of content hash to `entry.prefixSHA256`.
    static func prefixMatches(_ file: FoundFile, _ entry: TrackedFile) -> Bool {
        guard var reader = try? ContentReader(path: file.fullPath) else { return false }
        if !reader.isCompressed && file.size < entry.offset { return false }
        var hasher = SHA256()
        return (try? reader.hashPrefix(to: entry.offset, into: &hasher)) == true && hasher.hex == entry.prefixSHA256
    }

    /// A log's name without rotation suffixes: `auth.log.2.gz`, `auth.log.1` and
    /// `auth.log-20261201` are all `auth.log`.
    static func stem(_ name: String) -> String {
        var name = name
        if name.hasSuffix(".gz") { name.removeLast(3) }
        for separator: Character in [".", "-"] {
            if let cut = name.lastIndex(of: separator), cut != name.startIndex {
                let suffix = name[name.index(after: cut)...]
                if !suffix.isEmpty && suffix.allSatisfy(\.isNumber) {
                    name = String(name[..<cut])
                    break
                }
            }
        }
        return name
    }

    /// Marks a content as no longer in any file (its inode may be reused by a new entry).
    static func detach(_ id: String, in state: inout BatchState) {
        guard let index = state.files.firstIndex(where: { $0.id == id }) else { return }
        state.files[index].device = 0
        state.files[index].inode = 0
    }

    /// Drops the oldest detached contents beyond ``maxTracked``.
    static func prune(_ state: inout BatchState) {
        let excess = state.files.count - maxTracked
        guard excess > 0 else { return }
        let oldest = Set(
            state.files.filter { $0.inode == 0 }.sorted { $0.updated < $1.updated }.prefix(excess).map(\.id))
        state.files.removeAll { oldest.contains($0.id) }
    }
}

struct FileKey: Hashable {
    var device: UInt64
    var inode: UInt64
}
