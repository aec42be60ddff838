/* file.h - reading a small configuration file (a route file, a JWKS document) whole. */
#ifndef KL_FILE_H
#define KL_FILE_H

#include <stddef.h>

/** Reads the regular file at path (or what a link there names) whole into a NUL-terminated
 * kl_malloc'd *out (caller frees) of *len bytes. Returns 0; -EFBIG when it holds more than
 * max bytes; -EINVAL when it is no regular file (a FIFO, a device, a folder): a FIFO would
 * make the open, or the read, wait for a writer for good; another -errno from open/read. */
int kl_file_read(const char *path, size_t max, char **out, size_t *len);

#endif
