import Diffusion
import Foundation
import FuzzSupport
import Studio

// The settings people and model folders write (issue 19): a model's stipple_defaults.json
// (`ModelDefaults.parse`) and the studio's X/Y grid line (`GridPlan(parsing:)`), with every cell
// of a parsed plan built from a base request (Prompt S/R included). A refusal is an answer too,
// never a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Data(bytes: $0, count: size) } ?? Data()
    if let defaults = try? ModelDefaults.parse(bytes, path: "stipple_defaults.json") {
        var request = GenerationRequest(prompt: "a red circle")
        defaults.apply(to: &request)
        _ = defaults.summary
    }
    let text = inputString(data, size)
    do {
        let plan = try GridPlan(parsing: text)
        _ = plan.summary
        for index in 0..<plan.columns { _ = plan.x.label(index) }
        var base = GenerationRequest(prompt: String(text.prefix(64)))
        base.seed = 1
        _ = try? GridRunner.cells(of: plan, base: base)
    } catch {
        _ = error.description
    }
    return 0
}
