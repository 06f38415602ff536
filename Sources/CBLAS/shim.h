// OpenBLAS's CBLAS interface (Debian: libopenblas-dev, pkg-config name "openblas").
#include <cblas.h>
// Thread control lives in OpenBLAS's own API, declared in the same header.
