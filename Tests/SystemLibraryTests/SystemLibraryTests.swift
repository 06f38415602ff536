import CBLAS
import CNcursesw
import CPNG
import Testing

/// The three system libraries link and answer real calls.
@Suite struct SystemLibraryTests {
    @Test func openBLASMultipliesMatrices() {
        // [1 2; 3 4] · [5 6; 7 8] = [19 22; 43 50]
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [5, 6, 7, 8]
        var c = [Float](repeating: 0, count: 4)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1, a, 2, b, 2, 0, &c, 2)
        #expect(c == [19, 22, 43, 50])
        #expect(openblas_get_num_threads() >= 1)
    }

    @Test func libpngReportsItsVersion() {
        let version = png_access_version_number()
        #expect(version >= 10600 && version < 10700)
    }

    @Test func ncurseswIsWideAndAnswers() {
        let version = String(cString: curses_version())
        #expect(version.hasPrefix("ncurses 6"))
        // A wide-character entry point exists and converts a code point to a cchar_t.
        var cell = cchar_t()
        var text: [wchar_t] = [0x2580, 0]
        #expect(setcchar(&cell, &text, 0, 0, nil) == OK)
    }
}
