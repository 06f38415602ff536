import Foundation

extension OutputFolder {
    /// Checks before any sampling that `bytes` of images can be saved in this folder (created
    /// when missing): a path that is a file, a folder that cannot be made or written, or a disk
    /// without room fail now with a one-line error, not after minutes of work. The save itself
    /// stays atomic; this only writes and removes an empty probe file.
    public func checkWritable(bytes: Int) throws(SaveError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw SaveError(description: "\(url.path): the output folder is a file, not a folder")
        }
        try createFolder()
        try Self.probe(folder: url, bytes: bytes)
    }

    /// The same check for `--output FILE`: its folder must exist and take `bytes`.
    public static func checkWritable(file: URL, bytes: Int) throws(SaveError) {
        let folder = file.deletingLastPathComponent()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw SaveError(description: "\(file.path): the folder \(folder.path) does not exist")
        }
        try probe(folder: folder, bytes: bytes)
    }

    /// Creates and removes an empty temporary file in `folder` (the saves' own kind, so one a
    /// kill leaves behind is cleaned like theirs), and compares the free space with `bytes`.
    static func probe(folder: URL, bytes: Int) throws(SaveError) {
        guard let probe = writeTemporary([], in: folder) else {
            throw SaveError(description: "\(folder.path): cannot write images there (\(String(cString: strerror(errno))))")
        }
        unlink(probe)
        var stats = statvfs()
        if statvfs(folder.path, &stats) == 0 {
            let free = Double(stats.f_bavail) * Double(stats.f_frsize)
            if free < Double(bytes) {
                throw SaveError(description: String(format: "%@: the disk is full (%.1f MB free, the images need up to %.1f MB)",
                                                    folder.path, free / 1e6, Double(bytes) / 1e6))
            }
        }
    }

    /// The most bytes `count` PNGs of `width` x `height` can take: raw RGB plus chunk overhead
    /// (compression only makes them smaller).
    public static func imageBytes(width: Int, height: Int, count: Int) -> Int {
        (width * height * 3 + height + 64 * 1024) * count
    }

}
