import Foundation

/// Turns a Foundation file error into a short phrase for a one-line message.
enum FileProblem {
    static func describe(_ error: any Error, path: String) -> String {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            return "no such file"
        }
        if isDirectory.boolValue {
            return "is a directory, not a file"
        }
        if !FileManager.default.isReadableFile(atPath: path) {
            return "permission denied"
        }
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain,
           let message = strerror(Int32(underlying.code)) {
            return String(cString: message).lowercased()
        }
        return "cannot be read"
    }
}
