#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's resident memory, as `/usr/bin/time -v` reports it ("Maximum resident set size").
public enum ResidentMemory {
    /// The peak resident set size so far, in bytes (getrusage's ru_maxrss: kilobytes on Linux,
    /// bytes on macOS).
    public static var peakBytes: Int {
        var usage = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024
        #else
        getrusage(RUSAGE_SELF, &usage)
        return Int(usage.ru_maxrss)
        #endif
    }

    /// `peakBytes` in MB (10^6 bytes), as the README's tables print memory.
    public static var peakMegabytes: Double { Double(peakBytes) / 1e6 }
}
