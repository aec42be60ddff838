#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"

int kl_file_read(const char *path, size_t max, char **out, size_t *len) {
    /* O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a
     * writer, and fstat then turns it away. It changes nothing for a regular file. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), r = 0;
    if (fd < 0) return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) r = -errno;
    else if (!S_ISREG(st.st_mode)) r = -EINVAL;
    char *buf = r < 0 ? NULL : kl_malloc(max + 1);
    size_t n = 0;
    while (r == 0 && n <= max) { /* one byte past max tells a file that is too large */
        ssize_t got = read(fd, buf + n, max + 1 - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) r = -errno;
        if (got <= 0) break;
        n += (size_t)got;
    }
    close(fd);
    if (r == 0 && n > max) r = -EFBIG;
    if (r < 0) {
        kl_free(buf);
        return r;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}
