// JPEG decoding on memory buffers through libjpeg-turbo, with every libjpeg error caught here in
// C (libjpeg reports errors through error_exit, which must not return: we longjmp, and a longjmp
// must not cross Swift frames).
#ifndef STIPPLE_JPEG_BRIDGE_H
#define STIPPLE_JPEG_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A decoded JPEG: 8-bit RGB, rows packed top to bottom (width * height * 3 bytes).
typedef struct {
    uint32_t width;
    uint32_t height;
    uint8_t *pixels;
    char error[256];        // set when a call returns non-zero
} stipple_jpeg_decoded;

/// Decodes a whole JPEG held in memory (baseline or progressive, any chroma subsampling; arithmetic
/// coding is refused, since libjpeg cannot tell when such data ends early) to 8-bit RGB: greyscale is widened, CMYK and YCCK (Adobe's inverted convention,
/// as Photoshop and Pillow write it) are converted. Images wider or taller than max_side, or with
/// more than max_pixels pixels, are refused before any pixel memory is allocated, as is a file too
/// short to hold the image it declares. Data that ends early or is corrupt inside a scan is an
/// error, not an image with grey where the data was missing.
/// Returns 0 on success; otherwise `out->error` says what is wrong (one line).
int stipple_jpeg_decode(const uint8_t *data, size_t length, uint32_t max_side, uint64_t max_pixels,
                        stipple_jpeg_decoded *out);

/// Frees what stipple_jpeg_decode allocated (safe on a zeroed or failed result).
void stipple_jpeg_decoded_free(stipple_jpeg_decoded *decoded);

/// The libjpeg-turbo version the bridge was built against, e.g. 2001005 for 2.1.5.
uint32_t stipple_jpeg_library_version(void);

#ifdef __cplusplus
}
#endif

#endif
