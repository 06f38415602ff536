import Diffusion
import Foundation
import Parallel
import Testing
@testable import Studio

/// A studio started while its server was down: the checkpoint asked for is found when the server
/// answers, and the size already set stays.
@Suite struct RemoteModelStudioTests {
    @Test func theCheckpointIsFoundWhenTheServerAnswers() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-remote-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let asked = Locked<[String]>([])
        let controller = GenerationController(
            target: .remote(RemoteCheckpoint(name: "", server: "ComfyUI")), outputFolder: folder,
            modelResolver: { name in
                asked.withLock { $0.append(name) }
                return .remote(RemoteCheckpoint(name: "SDXL/juggernautXL_v9.safetensors", server: "ComfyUI 0.8.0"))
            })
        controller.wantedCheckpoint = "juggernaut"
        var state = StudioState(modelName: "", width: 64, height: 64)
        state.panel.setModel(controller.model.target)
        (state.panel.width, state.panel.height) = (64, 96)
        #expect(state.panel.value(.model) == "(the server's: not known yet)")

        // Nothing can be submitted before the checkpoint is known.
        controller.submit(GenerationRequest(prompt: "a cat"), state: &state)
        #expect(!controller.status.running && state.status.contains("checkpoints are unknown"))

        controller.handle(.backend("Connected to ComfyUI 0.8.0 at gpu:8188.", isError: false), state: &state)
        let deadline = Date().addingTimeInterval(5)
        while controller.model.target.name.isEmpty, Date() < deadline {
            _ = controller.inbox.wait(seconds: 0.2)
            controller.drainEvents(into: &state)
        }
        #expect(asked.withLock { $0 } == ["juggernaut"])
        #expect(controller.model.target.name == "SDXL/juggernautXL_v9.safetensors")
        #expect(state.panel.value(.model) == "SDXL/juggernautXL_v9.safetensors (SDXL)")
        #expect(state.panel.width == 64 && state.panel.height == 96, "the size set before stays")
    }
}
