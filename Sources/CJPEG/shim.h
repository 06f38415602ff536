// libjpeg-turbo's libjpeg API (Debian: libjpeg62-turbo-dev, pkg-config name "libjpeg").
// jpeglib.h uses FILE and size_t without including their headers, so those come first.
#include <stddef.h>
#include <stdio.h>
#include <jpeglib.h>
#include <jerror.h>
