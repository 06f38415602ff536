import Foundation
import Testing
@testable import Studio

/// Backend settings become a server to talk to, or one line naming the setting that is wrong;
/// nothing is asked of the server until needed.
@Suite struct RemoteSetupTests {
    @Test func defaultsAndRefusals() throws {
        let a1111 = try RemoteSetup(BackendSettings(kind: .a1111))
        #expect(a1111.backend.connection.label == "A1111 API at http://127.0.0.1:7860")
        #expect(a1111.backend.capabilities.canPause == false)
        func refusal(_ settings: BackendSettings, environment: [String: String] = [:]) -> String {
            do {
                _ = try RemoteSetup(settings, environment: environment)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal(BackendSettings(kind: .a1111, url: "ftp://box")).hasPrefix("backend url: "))
        #expect(!refusal(BackendSettings(kind: .a1111, url: "http://me:hunter2@box:7860")).contains("hunter2"))
        var secret = BackendSettings(kind: .a1111)
        secret.tokenEnv = "NO_SUCH_VARIABLE_HERE"
        #expect(refusal(secret).hasPrefix("backend credentials: "))
        var workflow = BackendSettings(kind: .a1111)
        workflow.workflow = "/tmp/flow.json"
        #expect(refusal(workflow) == "a workflow is ComfyUI's: backend kind a1111 takes none")
        #expect(refusal(BackendSettings()) == "the embedded engine needs no server")
    }

    /// A server that does not answer: the probe says so in one line, within its bound.
    @Test func aClosedPortIsAStateNotAHang() async throws {
        let setup = try RemoteSetup(BackendSettings(kind: .a1111, url: "http://127.0.0.1:9"))
        let start = Date()
        guard case .failure(let failure) = await setup.probe() else {
            Issue.record("a closed port answered")
            return
        }
        #expect(Date().timeIntervalSince(start) < 6)
        #expect(failure.description.contains("A1111 API at http://127.0.0.1:9"))
        #expect(!failure.description.contains("\n"))
        await #expect(throws: (any Error).self) { try await setup.backend.checkpoint(named: nil) }
    }
}
