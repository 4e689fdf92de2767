// zlib (Debian's zlib1g-dev), for reading gzip-compressed log files.
#include <zlib.h>
