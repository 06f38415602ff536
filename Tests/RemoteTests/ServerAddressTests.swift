import Testing
@testable import Remote

@Suite struct ServerAddressTests {
    @Test func parsesWhatUsersWrite() throws {
        let plain = try ServerAddress(parsing: "http://127.0.0.1:8188")
        #expect(plain.scheme == .http && plain.host == "127.0.0.1" && plain.port == 8188 && plain.basePath == "")
        #expect(plain.description == "http://127.0.0.1:8188")
        #expect(plain.url("/prompt") == "http://127.0.0.1:8188/prompt")
        #expect(plain.url("view?filename=a.png") == "http://127.0.0.1:8188/view?filename=a.png")
        #expect(plain.webSocketURL("/ws?clientId=1") == "ws://127.0.0.1:8188/ws?clientId=1")
        #expect(plain.hostAndPort == "127.0.0.1:8188")

        let proxied = try ServerAddress(parsing: "  HTTPS://GPU-Box.lan/comfy/ \n")
        #expect(proxied.scheme == .https && proxied.host == "gpu-box.lan" && proxied.port == nil)
        #expect(proxied.effectivePort == 443 && proxied.basePath == "/comfy")
        #expect(proxied.url("/sdapi/v1/options") == "https://gpu-box.lan/comfy/sdapi/v1/options")
        #expect(proxied.webSocketURL("/ws") == "wss://gpu-box.lan/comfy/ws")

        let v6 = try ServerAddress(parsing: "http://[::1]:7860")
        #expect(v6.host == "::1" && v6.port == 7860 && v6.description == "http://[::1]:7860")
        #expect(try ServerAddress(parsing: "http://gpu-box").effectivePort == 80)
    }

    @Test func refusalsAreOneLineAndSayWhy() {
        let cases: [(String, String)] = [
            ("", "empty"),
            ("ftp://box", "http or https"),
            ("gpu-box:8188", "no scheme"),
            ("http://", "no host"),
            ("http://:8188", "no host"),
            ("http://box:0", "port"),
            ("http://box:99999", "port"),
            ("http://box:12ab", "port"),
            ("http://box /x", "a space"),
            ("http://box\u{1B}[2J", "control character"),
            ("http://bäx", "non-ASCII"),
            ("http://box/x?y=1", "query"),
            ("http://box#top", "query"),
            ("http://::1:80", "brackets"),
            ("http://[zz]:80", "IPv6"),
            ("http://bo<x", "not a host name"),
        ]
        for (text, reason) in cases {
            #expect(throws: ServerAddressError.self) { try ServerAddress(parsing: text) }
            do {
                _ = try ServerAddress(parsing: text)
            } catch {
                #expect(error.description.contains(reason), "\(text): \(error)")
                #expect(!error.description.contains("\n") && !error.description.contains("\u{1B}"))
            }
        }
    }

    @Test func credentialsInTheAddressAreRefusedWithoutEchoingThem() {
        for text in ["http://alice:hunter2@box:8188", "https://hunter2@box", "http://alice:hunter2@"] {
            do {
                _ = try ServerAddress(parsing: text)
                Issue.record("accepted \(text)")
            } catch {
                #expect(!error.description.contains("hunter2"))
                #expect(error.description.contains("token_env"))
            }
        }
    }
}
