// JPEG decoding through libjpeg-turbo. Every libjpeg call lives in this file so that libjpeg's
// error_exit (which must not return: we longjmp back to the setjmp in stipple_jpeg_decode) never
// unwinds through Swift code (see docs/DECISIONS.md).
#include "jpeg_bridge.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

// ---- errors -------------------------------------------------------------------------------

typedef struct {
    struct jpeg_error_mgr manager;  // first, so libjpeg's err pointer is also ours
    jmp_buf jump;
    char *message;                  // the caller's 256-byte error buffer
} error_sink;

/// libjpeg's own text for the message it is raising (ASCII, numbers only from the file).
static void libjpeg_text(j_common_ptr cinfo, char *text) {
    text[0] = 0;
    (*cinfo->err->format_message)(cinfo, text);  // at most JMSG_LENGTH_MAX (200) bytes
}

static void on_error(j_common_ptr cinfo) {
    error_sink *sink = (error_sink *)cinfo->err;
    if (sink->message[0] == 0) {
        char text[JMSG_LENGTH_MAX];
        libjpeg_text(cinfo, text);
        switch (cinfo->err->msg_code) {
        case JERR_OUT_OF_MEMORY:
            snprintf(sink->message, 256, "out of memory decoding the JPEG (%s)", text);
            break;
        case JERR_NO_BACKING_STORE:  // max_memory_to_use reached (progressive coefficient buffers)
            snprintf(sink->message, 256, "JPEG too large to decode: it needs more than %ld MiB of decoder memory",
                     (long)(cinfo->mem->max_memory_to_use >> 20));
            break;
        case JERR_SOF_UNSUPPORTED:
        case JERR_BAD_PRECISION:
        case JERR_CONVERSION_NOTIMPL:
            snprintf(sink->message, 256, "unsupported JPEG (%s)", text);
            break;
        default:
            snprintf(sink->message, 256, "corrupt JPEG (%s)", text);
        }
    }
    longjmp(sink->jump, 1);
}

/// Warnings (msg_level -1) that mean pixels are missing or wrong stop the decode: libjpeg would
/// go on and fill what is missing with grey. Other warnings (extraneous bytes between markers, an
/// unknown JFIF revision, a bad ICC marker) leave the pixels intact and are ignored. Nothing is
/// ever printed: libjpeg's default would write to stderr, that is over the studio's screen.
static void on_message(j_common_ptr cinfo, int msg_level) {
    if (msg_level >= 0) return;  // trace messages
    error_sink *sink = (error_sink *)cinfo->err;
    switch (cinfo->err->msg_code) {
    case JWRN_JPEG_EOF:
        snprintf(sink->message, 256, "truncated JPEG: the data ends before the image is complete");
        break;
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC: {
        char text[JMSG_LENGTH_MAX];
        libjpeg_text(cinfo, text);
        snprintf(sink->message, 256, "corrupt JPEG (%s)", text);
        break;
    }
    default:
        return;
    }
    longjmp(sink->jump, 1);
}

static void on_output(j_common_ptr cinfo) { (void)cinfo; }

// ---- decode -------------------------------------------------------------------------------

void stipple_jpeg_decoded_free(stipple_jpeg_decoded *decoded) {
    if (!decoded) return;
    free(decoded->pixels);
    decoded->pixels = NULL;
}

/// The fewest 8x8 blocks any one component has: each of them costs at least one bit of
/// Huffman-coded data (the only coding we accept), so a file shorter than that many bits cannot hold the image it declares.
static uint64_t fewest_blocks(const struct jpeg_decompress_struct *cinfo) {
    uint64_t fewest = UINT64_MAX;
    for (int i = 0; i < cinfo->num_components; i++) {
        const jpeg_component_info *component = &cinfo->comp_info[i];
        uint64_t blocks = (uint64_t)component->width_in_blocks * component->height_in_blocks;
        if (blocks < fewest) fewest = blocks;
    }
    return fewest == UINT64_MAX ? 0 : fewest;
}

/// (a * b + 127) / 255 rounded, as an integer: Pillow's MULDIV255.
static inline uint8_t times_over_255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

int stipple_jpeg_decode(const uint8_t *data, size_t length, uint32_t max_side, uint64_t max_pixels,
                        stipple_jpeg_decoded *out) {
    memset(out, 0, sizeof(*out));
    // Every JPEG starts with SOI (FF D8) and then another marker (FF xx).
    if (length < 3 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF) {
        snprintf(out->error, sizeof(out->error), "not a JPEG file (no JPEG signature)");
        return 1;
    }
    struct jpeg_decompress_struct cinfo;
    error_sink sink;
    memset(&cinfo, 0, sizeof(cinfo));
    cinfo.err = jpeg_std_error(&sink.manager);
    sink.manager.error_exit = on_error;
    sink.manager.emit_message = on_message;
    sink.manager.output_message = on_output;
    sink.message = out->error;
    uint8_t *volatile cmyk_row = NULL;

    if (setjmp(sink.jump)) {
        if (out->error[0] == 0) snprintf(out->error, sizeof(out->error), "corrupt JPEG");
        free((void *)cmyk_row);
        jpeg_destroy_decompress(&cinfo);  // frees every pool libjpeg allocated, whatever its state
        stipple_jpeg_decoded_free(out);
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    // The whole-image coefficient buffers of a progressive JPEG are libjpeg's one large allocation:
    // up to 2 bytes per coefficient, 64 per pixel per component, four components. Past this bound
    // libjpeg reports "backing store not supported" instead of allocating.
    cinfo.mem->max_memory_to_use = (long)(max_pixels > (1ULL << 40) ? (1ULL << 43) : max_pixels * 8 + (64 << 20));
    jpeg_mem_src(&cinfo, data, (unsigned long)length);
    jpeg_read_header(&cinfo, TRUE);  // an abbreviated, tables-only file is an error here

    uint32_t width = cinfo.image_width, height = cinfo.image_height;
    if (width > max_side || height > max_side || (uint64_t)width * height > max_pixels) {
        snprintf(out->error, sizeof(out->error),
                 "image too large: %ux%u (the limit is %u pixels a side and %llu pixels in all)",
                 (unsigned)width, (unsigned)height, (unsigned)max_side, (unsigned long long)max_pixels);
        longjmp(sink.jump, 1);
    }
    if (cinfo.arith_code) {
        // libjpeg's arithmetic decoder pads with zeros, silently, once its data runs out (the Huffman
        // decoder warns), and it can spend less than a bit on a block, so neither a cut-short file nor
        // one declaring a huge size could be told from a good one. Browsers do not decode these either.
        snprintf(out->error, sizeof(out->error),
                 "unsupported JPEG (arithmetic-coded: only Huffman-coded JPEGs are read, as browsers read them)");
        longjmp(sink.jump, 1);
    }
    if ((uint64_t)length * 8 < fewest_blocks(&cinfo)) {
        snprintf(out->error, sizeof(out->error), "truncated JPEG: %zu bytes cannot hold the %ux%u image it declares",
                 length, (unsigned)width, (unsigned)height);
        longjmp(sink.jump, 1);
    }
    int cmyk = 0;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo.out_color_space = JCS_RGB;
        break;
    case JCS_CMYK:
    case JCS_YCCK:  // libjpeg turns YCCK into CMYK; we turn CMYK into RGB below
        cinfo.out_color_space = JCS_CMYK;
        cmyk = 1;
        break;
    default:
        snprintf(out->error, sizeof(out->error), "unsupported JPEG colour space (%d components of unknown meaning)",
                 cinfo.num_components);
        longjmp(sink.jump, 1);
    }
    jpeg_start_decompress(&cinfo);  // a progressive file is read whole here
    if (cinfo.output_width != width || cinfo.output_height != height ||
        cinfo.output_components != (cmyk ? 4 : 3)) {
        snprintf(out->error, sizeof(out->error), "unsupported JPEG pixel layout (%d components out)",
                 cinfo.output_components);
        longjmp(sink.jump, 1);
    }
    size_t row_bytes = (size_t)width * 3;
    out->pixels = (uint8_t *)malloc(row_bytes * height);
    if (cmyk) cmyk_row = (uint8_t *)malloc((size_t)width * 4);
    if (!out->pixels || (cmyk && !cmyk_row)) {
        snprintf(out->error, sizeof(out->error), "out of memory for a %ux%u image", (unsigned)width, (unsigned)height);
        longjmp(sink.jump, 1);
    }
    out->width = width;
    out->height = height;
    while (cinfo.output_scanline < height) {
        uint32_t y = cinfo.output_scanline;
        uint8_t *row = out->pixels + (size_t)y * row_bytes;
        JSAMPROW target = cmyk ? (JSAMPROW)cmyk_row : (JSAMPROW)row;
        if (jpeg_read_scanlines(&cinfo, &target, 1) != 1) {
            // Only a suspending data source returns no row; ours never suspends.
            snprintf(out->error, sizeof(out->error), "truncated JPEG: the data ends before the image is complete");
            longjmp(sink.jump, 1);
        }
        if (cmyk) {
            // Adobe's convention (Photoshop, libjpeg's and Pillow's writers) stores CMYK inverted,
            // so the stored values are 255 - C etc.; Pillow assumes it for every CMYK JPEG and so
            // do we. RGB = (255 - C)(255 - K) / 255 = stored C * stored K / 255.
            const uint8_t *source = (const uint8_t *)cmyk_row;
            for (uint32_t x = 0; x < width; x++) {
                unsigned k = source[4 * x + 3];
                row[3 * x] = times_over_255(source[4 * x], k);
                row[3 * x + 1] = times_over_255(source[4 * x + 1], k);
                row[3 * x + 2] = times_over_255(source[4 * x + 2], k);
            }
        }
    }
    // Reads up to the end marker: a sequential file cut right after its last row is refused here.
    jpeg_finish_decompress(&cinfo);
    free((void *)cmyk_row);
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

uint32_t stipple_jpeg_library_version(void) {
#ifdef LIBJPEG_TURBO_VERSION_NUMBER
    return (uint32_t)LIBJPEG_TURBO_VERSION_NUMBER;
#else
    return 0;
#endif
}
