// Wide-character ncurses (Debian: libncursesw5-dev, pkg-config name "ncursesw").
#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <locale.h>
#include <ncursesw/curses.h>
#include <ncursesw/term.h>
