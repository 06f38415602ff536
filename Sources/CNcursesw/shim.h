// Wide-character ncurses (Debian: libncursesw5-dev, pkg-config name "ncursesw").
#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <locale.h>
#include <ncursesw/curses.h>
#include <ncursesw/term.h>

// Attribute and colour-pair values that curses defines as macros (Swift does not import them).
static inline attr_t stipple_attr_bold(void) { return A_BOLD; }
static inline attr_t stipple_attr_reverse(void) { return A_REVERSE; }
static inline attr_t stipple_attr_normal(void) { return A_NORMAL; }
static inline WINDOW *stipple_stdscr(void) { return stdscr; }
static inline int stipple_lines(void) { return LINES; }
static inline int stipple_cols(void) { return COLS; }
static inline int stipple_colors(void) { return COLORS; }
static inline int stipple_color_pairs(void) { return COLOR_PAIRS; }
