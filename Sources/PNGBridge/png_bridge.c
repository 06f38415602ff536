// PNG decode/encode through libpng. Every libpng call lives in this file so that libpng's
// longjmp-based error handling never unwinds through Swift code (see docs/DECISIONS.md).
#include "png_bridge.h"

#include <png.h>
#include <stdio.h>
#include <zlib.h>
#include <stdlib.h>
#include <string.h>

// ---- errors -------------------------------------------------------------------------------

typedef struct {
    char *message;          // points at the caller's 256-byte error buffer
    char last_warning[128]; // libpng explains a bad IHDR in warnings before its error
} error_sink;

static void on_error(png_structp png, png_const_charp message) {
    error_sink *sink = (error_sink *)png_get_error_ptr(png);
    if (sink && sink->message && sink->message[0] == 0) {
        if (strncmp(message, "truncated", 9) == 0) {
            snprintf(sink->message, 256, "%s", message);
        } else if (strstr(message, "IHDR") && sink->last_warning[0]) {
            snprintf(sink->message, 256, "corrupt PNG header (%s)", sink->last_warning);
        } else {
            snprintf(sink->message, 256, "corrupt PNG (%s)", message);
        }
    }
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp message) {
    // Ancillary problems (a bad CRC in a text chunk, an odd sRGB profile) are not fatal; keep the
    // latest one, since libpng's error for a bad header only says "Invalid IHDR data".
    error_sink *sink = (error_sink *)png_get_error_ptr(png);
    if (sink) snprintf(sink->last_warning, sizeof(sink->last_warning), "%s", message);
}

// ---- decode -------------------------------------------------------------------------------

typedef struct {
    const uint8_t *data;
    size_t length;
    size_t offset;
} memory_reader;

static void read_from_memory(png_structp png, png_bytep out, size_t count) {
    memory_reader *reader = (memory_reader *)png_get_io_ptr(png);
    if (reader->length - reader->offset < count) {
        png_error(png, "truncated PNG: the data ends before the image is complete");
    }
    memcpy(out, reader->data + reader->offset, count);
    reader->offset += count;
}

static char *copy_string(const char *text, size_t length) {
    char *copy = (char *)malloc(length + 1);
    if (copy) {
        memcpy(copy, text, length);
        copy[length] = 0;
    }
    return copy;
}

static int copy_texts(png_structp png, png_infop info, stipple_png_decoded *out) {
    png_textp texts = NULL;
    int count = png_get_text(png, info, &texts, NULL);
    if (count <= 0) return 0;
    out->texts = (stipple_png_text *)calloc((size_t)count, sizeof(stipple_png_text));
    if (!out->texts) return -1;
    for (int i = 0; i < count; i++) {
        int international = texts[i].compression == PNG_ITXT_COMPRESSION_NONE ||
                            texts[i].compression == PNG_ITXT_COMPRESSION_zTXt;
        size_t length = international ? texts[i].itxt_length : texts[i].text_length;
        stipple_png_text *text = &out->texts[out->text_count];
        text->key = copy_string(texts[i].key, strlen(texts[i].key));
        text->text = (uint8_t *)copy_string(texts[i].text ? texts[i].text : "", texts[i].text ? length : 0);
        text->text_length = texts[i].text ? length : 0;
        text->is_international = international;
        out->text_count++;
        if (!text->key || !text->text) return -1;
    }
    return 0;
}

void stipple_png_decoded_free(stipple_png_decoded *decoded) {
    if (!decoded) return;
    free(decoded->pixels);
    decoded->pixels = NULL;
    for (size_t i = 0; i < decoded->text_count; i++) {
        free(decoded->texts[i].key);
        free(decoded->texts[i].text);
    }
    free(decoded->texts);
    decoded->texts = NULL;
    decoded->text_count = 0;
}

/// The decoder; with header_only it stops after the chunks before the image data (size and texts);
/// with max_rows below the height (and no interlacing) it stops after that many rows, without texts.
static int decode(const uint8_t *data, size_t length, uint32_t max_side, uint64_t max_pixels, int header_only,
                  uint32_t max_rows, stipple_png_decoded *out) {
    memset(out, 0, sizeof(*out));
    if (length < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        snprintf(out->error, sizeof(out->error), "not a PNG file (no PNG signature)");
        return 1;
    }
    error_sink sink = {out->error, {0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &sink, on_error, on_warning);
    if (!png) {
        snprintf(out->error, sizeof(out->error), "out of memory");
        return 1;
    }
    png_infop info = png_create_info_struct(png);
    png_bytep *volatile rows = NULL;
    memory_reader reader = {data, length, 0};

    if (!info || setjmp(png_jmpbuf(png))) {
        if (out->error[0] == 0) snprintf(out->error, sizeof(out->error), "out of memory");
        free((void *)rows);
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        stipple_png_decoded_free(out);
        return 1;
    }
    png_set_read_fn(png, &reader, read_from_memory);
    // Our own size limits are checked below, with a clearer message than libpng's.
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, NULL, NULL, NULL);
    if (width == 0 || height == 0) {
        snprintf(out->error, sizeof(out->error), "invalid dimensions %ux%u", (unsigned)width, (unsigned)height);
        png_error(png, out->error);
    }
    if (header_only) {
        out->width = width;
        out->height = height;
        if (copy_texts(png, info, out) != 0) png_error(png, "out of memory");
        png_destroy_read_struct(&png, &info, NULL);
        return 0;
    }
    if (width > max_side || height > max_side || (uint64_t)width * height > max_pixels) {
        snprintf(out->error, sizeof(out->error),
                 "image too large: %ux%u (the limit is %u pixels a side and %llu pixels in all)",
                 (unsigned)width, (unsigned)height, (unsigned)max_side, (unsigned long long)max_pixels);
        png_error(png, out->error);
    }

    int has_alpha = (color_type & PNG_COLOR_MASK_ALPHA) != 0;
    if (bit_depth == 16) png_set_scale_16(png);
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if ((color_type & PNG_COLOR_MASK_COLOR) == 0 && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) {
        png_set_tRNS_to_alpha(png);
        has_alpha = 1;
    }
    if ((color_type & PNG_COLOR_MASK_COLOR) == 0) png_set_gray_to_rgb(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);

    png_byte channels = png_get_channels(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    if (channels != (has_alpha ? 4 : 3) || row_bytes != (size_t)width * channels) {
        png_error(png, "unsupported PNG pixel layout");
    }
    out->width = width;
    out->height = height;
    out->channels = channels;
    if (passes == 1 && max_rows < height) {
        out->rows = max_rows;
        out->pixels = (uint8_t *)malloc(row_bytes * (max_rows ? max_rows : 1));
        if (!out->pixels) png_error(png, "out of memory");
        for (png_uint_32 y = 0; y < max_rows; y++) png_read_row(png, out->pixels + (size_t)y * row_bytes, NULL);
        png_destroy_read_struct(&png, &info, NULL);
        return 0;
    }
    out->rows = height;
    out->pixels = (uint8_t *)malloc(row_bytes * height);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * height);
    if (!out->pixels || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < height; y++) rows[y] = out->pixels + (size_t)y * row_bytes;
    png_read_image(png, rows);
    png_read_end(png, info);  // text chunks after the image data land in `info` too
    if (copy_texts(png, info, out) != 0) png_error(png, "out of memory");

    free((void *)rows);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

int stipple_png_decode(const uint8_t *data, size_t length, uint32_t max_side, uint64_t max_pixels,
                       stipple_png_decoded *out) {
    return decode(data, length, max_side, max_pixels, 0, UINT32_MAX, out);
}

int stipple_png_decode_rows(const uint8_t *data, size_t length, uint32_t max_side, uint64_t max_pixels,
                            uint32_t max_rows, stipple_png_decoded *out) {
    return decode(data, length, max_side, max_pixels, 0, max_rows, out);
}

int stipple_png_decode_header(const uint8_t *data, size_t length, stipple_png_decoded *out) {
    return decode(data, length, UINT32_MAX, UINT64_MAX, 1, UINT32_MAX, out);
}

// ---- encode -------------------------------------------------------------------------------

static void write_to_memory(png_structp png, png_bytep data, size_t count) {
    stipple_png_encoded *out = (stipple_png_encoded *)png_get_io_ptr(png);
    if (out->capacity - out->length < count) {
        size_t capacity = out->capacity ? out->capacity : 65536;
        while (capacity - out->length < count) capacity *= 2;
        uint8_t *grown = (uint8_t *)realloc(out->bytes, capacity);
        if (!grown) png_error(png, "out of memory");
        out->bytes = grown;
        out->capacity = capacity;
    }
    memcpy(out->bytes + out->length, data, count);
    out->length += count;
}

static void flush_memory(png_structp png) { (void)png; }

void stipple_png_encoded_free(stipple_png_encoded *encoded) {
    if (!encoded) return;
    free(encoded->bytes);
    encoded->bytes = NULL;
    encoded->length = encoded->capacity = 0;
}

int stipple_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t channels,
                       const stipple_png_text_in *texts, size_t text_count, int compression_level,
                       stipple_png_encoded *out) {
    memset(out, 0, sizeof(*out));
    if (width == 0 || height == 0 || (channels != 3 && channels != 4)) {
        snprintf(out->error, sizeof(out->error), "cannot encode a %ux%u image with %u channels",
                 (unsigned)width, (unsigned)height, (unsigned)channels);
        return 1;
    }
    error_sink sink = {out->error, {0}};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, on_error, on_warning);
    if (!png) {
        snprintf(out->error, sizeof(out->error), "out of memory");
        return 1;
    }
    png_infop info = png_create_info_struct(png);
    png_textp volatile chunks = NULL;
    char **volatile copies = NULL;

    if (!info || setjmp(png_jmpbuf(png))) {
        if (out->error[0] == 0) snprintf(out->error, sizeof(out->error), "out of memory");
        if (copies) {
            for (size_t i = 0; i < text_count; i++) free(copies[i]);
        }
        free((void *)copies);
        free((void *)chunks);
        png_destroy_write_struct(&png, info ? &info : NULL);
        stipple_png_encoded_free(out);
        return 1;
    }
    png_set_write_fn(png, out, write_to_memory, flush_memory);
    png_set_compression_level(png, compression_level < 0 ? 0 : compression_level > 9 ? 9 : compression_level);
    png_set_IHDR(png, info, width, height, 8, channels == 4 ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (text_count > 0) {
        chunks = (png_textp)calloc(text_count, sizeof(png_text));
        copies = (char **)calloc(text_count, sizeof(char *));
        if (!chunks || !copies) png_error(png, "out of memory");
        for (size_t i = 0; i < text_count; i++) {
            // libpng measures tEXt with strlen, so every text is handed over NUL-terminated.
            copies[i] = copy_string((const char *)texts[i].text, texts[i].text_length);
            if (!copies[i]) png_error(png, "out of memory");
            chunks[i].key = (png_charp)texts[i].key;
            chunks[i].text = copies[i];
            if (texts[i].is_international) {
                chunks[i].compression = PNG_ITXT_COMPRESSION_NONE;
                chunks[i].itxt_length = texts[i].text_length;
            } else {
                chunks[i].compression = PNG_TEXT_COMPRESSION_NONE;
                chunks[i].text_length = texts[i].text_length;
            }
        }
        png_set_text(png, info, chunks, (int)text_count);
    }
    png_write_info(png, info);
    size_t row_bytes = (size_t)width * channels;
    for (uint32_t y = 0; y < height; y++) {
        png_write_row(png, (png_const_bytep)(pixels + (size_t)y * row_bytes));
    }
    png_write_end(png, info);

    if (copies) {
        for (size_t i = 0; i < text_count; i++) free(copies[i]);
    }
    free((void *)copies);
    free((void *)chunks);
    png_destroy_write_struct(&png, &info);
    return 0;
}

// ---- gzip ----------------------------------------------------------------------------------

int stipple_gunzip(const uint8_t *data, size_t length, size_t max_output, uint8_t **output,
                   size_t *output_length, char *error) {
    *output = NULL;
    *output_length = 0;
    error[0] = 0;
    z_stream stream;
    memset(&stream, 0, sizeof(stream));
    if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) {  // 16: a gzip wrapper, not zlib's
        snprintf(error, 256, "out of memory");
        return 1;
    }
    size_t capacity = length < 4096 ? 4096 : length * 4;
    if (capacity > max_output + 1) capacity = max_output + 1;
    uint8_t *buffer = (uint8_t *)malloc(capacity);
    size_t produced = 0;
    int status = Z_OK;
    stream.next_in = (Bytef *)data;
    size_t input_left = length;
    while (buffer && status == Z_OK) {
        if (produced == capacity) {
            if (capacity > max_output) break;  // one byte past the limit: refused below
            size_t grown_capacity = capacity * 2 > max_output + 1 ? max_output + 1 : capacity * 2;
            uint8_t *grown = (uint8_t *)realloc(buffer, grown_capacity);
            if (!grown) {
                free(buffer);
                buffer = NULL;
                break;
            }
            buffer = grown;
            capacity = grown_capacity;
        }
        if (stream.avail_in == 0 && input_left > 0) {
            uInt chunk = input_left > 0x40000000u ? 0x40000000u : (uInt)input_left;
            stream.avail_in = chunk;
            input_left -= chunk;
        }
        size_t room = capacity - produced;
        stream.next_out = buffer + produced;
        stream.avail_out = room > 0x40000000u ? 0x40000000u : (uInt)room;
        uInt before = stream.avail_out;
        status = inflate(&stream, Z_NO_FLUSH);
        produced += before - stream.avail_out;
        if (status == Z_BUF_ERROR && stream.avail_in == 0 && input_left == 0) break;  // input ended early
        if (status == Z_BUF_ERROR) status = Z_OK;
    }
    const char *message = stream.msg;
    inflateEnd(&stream);
    if (!buffer) {
        snprintf(error, 256, "out of memory");
        return 1;
    }
    if (produced > max_output) {
        free(buffer);
        snprintf(error, 256, "gzip data inflates to more than %zu bytes", max_output);
        return 1;
    }
    if (status != Z_STREAM_END) {
        free(buffer);
        if (message) snprintf(error, 256, "corrupt gzip data (%s)", message);
        else snprintf(error, 256, "truncated gzip data");
        return 1;
    }
    *output = buffer;
    *output_length = produced;
    return 0;
}

uint32_t stipple_png_library_version(void) { return (uint32_t)png_access_version_number(); }
