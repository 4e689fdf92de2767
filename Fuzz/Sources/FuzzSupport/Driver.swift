#if canImport(Glibc)
    import Glibc
#endif

/// libFuzzer's entry for programs with their own `main` (the executable's top-level code):
/// it parses libFuzzer's flags and calls `callback` with each input.
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The input as a buffer (libFuzzer passes nil for the empty input).
public typealias FuzzInput = UnsafeBufferPointer<UInt8>

/// Runs libFuzzer over `target` with this process's arguments and exits with its status.
public func runFuzzer(_ target: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, target))
}
