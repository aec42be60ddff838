/* kl_file_read (file.h): a regular file is read whole and NUL-terminated, through a link
 * too; one byte past the bound is -EFBIG; a FIFO with no writer, a folder and a device are
 * -EINVAL at once (a FIFO used to block the open for good); a missing file is -ENOENT. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/file.h"
#include "kt.h"

static char dir[] = "/tmp/keel-test-file-XXXXXX";

static void path_of(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", dir, name); }

static void put(const char *name, const char *text, size_t n) {
    char p[256];
    path_of(p, sizeof(p), name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fwrite(text, 1, n, f);
        fclose(f);
    }
}

static int read_named(const char *name, size_t max, char **out, size_t *len) {
    char p[256];
    path_of(p, sizeof(p), name);
    return kl_file_read(p, max, out, len);
}

static void regular_files_whole_and_bounded(void) {
    char *t = NULL;
    size_t n = 99;
    put("ten", "0123456789", 10);
    put("empty", "", 0);
    char link[256], target[256];
    path_of(link, sizeof(link), "link");
    path_of(target, sizeof(target), "ten");
    KT_EQ(symlink(target, link), 0);
    KT_EQ(read_named("ten", 10, &t, &n), 0);
    KT_CHECK(t && n == 10 && !strcmp(t, "0123456789"));
    kl_free(t);
    t = NULL;
    KT_EQ(read_named("link", 10, &t, &n), 0);
    KT_CHECK(t && n == 10 && !memcmp(t, "0123456789", 10));
    kl_free(t);
    t = NULL;
    KT_EQ(read_named("ten", 9, &t, &n), -EFBIG);
    KT_CHECK(t == NULL);
    KT_EQ(read_named("empty", 10, &t, &n), 0);
    KT_CHECK(t && n == 0 && t[0] == '\0');
    kl_free(t);
    t = NULL;
    KT_EQ(read_named("missing", 10, &t, &n), -ENOENT);
}

static void no_fifo_folder_or_device(void) {
    char *t = NULL;
    size_t n = 0;
    char fifo[256], sub[256];
    path_of(fifo, sizeof(fifo), "fifo.sql");
    path_of(sub, sizeof(sub), "folder.sql");
    KT_EQ(mkfifo(fifo, 0600), 0);
    KT_EQ(mkdir(sub, 0700), 0);
    alarm(5); /* a FIFO that blocked the open would otherwise hang the test run, not fail it */
    KT_EQ(kl_file_read(fifo, 100, &t, &n), -EINVAL);
    alarm(0);
    KT_EQ(kl_file_read(sub, 100, &t, &n), -EINVAL);
    KT_EQ(kl_file_read("/dev/zero", 100, &t, &n), -EINVAL);
    KT_CHECK(t == NULL);
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    KT_RUN(regular_files_whole_and_bounded);
    KT_RUN(no_fifo_folder_or_device);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return KT_DONE();
}
