// PNG decode/encode on memory buffers through libpng, with every libpng error
// caught here in C (libpng reports errors by longjmp, which must not cross Swift frames).
#ifndef STIPPLE_PNG_BRIDGE_H
#define STIPPLE_PNG_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One text chunk (tEXt, zTXt or iTXt). `text` is raw bytes: Latin-1 for tEXt/zTXt, UTF-8 for iTXt.
typedef struct {
    char *key;              // NUL-terminated Latin-1 keyword (1-79 bytes)
    uint8_t *text;          // not NUL-terminated
    size_t text_length;
    int is_international;   // 1 for iTXt
} stipple_png_text;

/// A decoded image: 8-bit RGB (channels 3) or RGBA (channels 4), rows packed top to bottom.
typedef struct {
    uint32_t width;
    uint32_t height;
    uint32_t channels;
    uint8_t *pixels;
    stipple_png_text *texts;
    size_t text_count;
    char error[256];        // set when a call returns non-zero
    uint32_t rows;          // rows of `pixels` (height, or fewer from stipple_png_decode_rows)
} stipple_png_decoded;

/// Decodes a whole PNG held in memory. Palette, grey, 16-bit, alpha, tRNS and interlaced
/// images all become 8-bit RGB or RGBA. Images wider or taller than max_side, or with more
/// than max_pixels pixels, are refused before any pixel memory is allocated.
/// Returns 0 on success; otherwise `out->error` says what is wrong.
int stipple_png_decode(const uint8_t *data, size_t length, uint32_t max_side, uint64_t max_pixels,
                       stipple_png_decoded *out);

/// Like stipple_png_decode, but stops after the first `max_rows` rows (`out->rows` says how many
/// were decoded; `out->height` stays the image's height). Interlaced images are decoded whole,
/// since their first rows are only complete after the last pass. Texts are not read.
/// For probing the top of an image cheaply (the stealth-text signature in its first column).
int stipple_png_decode_rows(const uint8_t *data, size_t length, uint32_t max_side, uint64_t max_pixels,
                            uint32_t max_rows, stipple_png_decoded *out);

/// Reads only the header and the text chunks before the image data (where A1111, Pillow and
/// stipple put them): width and height are set, pixels stay NULL. For listing many files fast.
int stipple_png_decode_header(const uint8_t *data, size_t length, stipple_png_decoded *out);

/// Frees what stipple_png_decode allocated (safe on a zeroed or failed result).
void stipple_png_decoded_free(stipple_png_decoded *decoded);

/// Text to write into an encoded PNG. `is_international` selects iTXt (UTF-8) over tEXt (Latin-1).
typedef struct {
    const char *key;
    const uint8_t *text;
    size_t text_length;
    int is_international;
} stipple_png_text_in;

/// An encoded PNG in malloc'd memory.
typedef struct {
    uint8_t *bytes;
    size_t length;
    size_t capacity;
    char error[256];
} stipple_png_encoded;

/// Encodes 8-bit RGB (channels 3) or RGBA (channels 4) pixels with the given text chunks
/// (written before the image data) at zlib level `compression_level` (0-9).
/// Returns 0 on success; otherwise `out->error` says what is wrong.
int stipple_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t channels,
                       const stipple_png_text_in *texts, size_t text_count, int compression_level,
                       stipple_png_encoded *out);

/// Frees what stipple_png_encode allocated.
void stipple_png_encoded_free(stipple_png_encoded *encoded);

/// Inflates a gzip stream (one member; the RFC 1952 header, CRC-32 and length checked) into a
/// malloc'd buffer the caller frees with free(). A result longer than `max_output` bytes is refused
/// (a zip bomb costs at most that much memory). Returns 0 on success; otherwise `error` (256
/// bytes) says what is wrong and `*output` is NULL.
int stipple_gunzip(const uint8_t *data, size_t length, size_t max_output, uint8_t **output,
                   size_t *output_length, char *error);

/// libpng's version number, e.g. 10639 for 1.6.39.
uint32_t stipple_png_library_version(void);

#ifdef __cplusplus
}
#endif

#endif
