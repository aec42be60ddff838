/* keel: serve an HTTP/1.1 API from one binary. See `keel --help`. */
#include "app/config.h"
#include "app/server.h"

int main(int argc, char **argv) {
    kl_config_t cfg;
    int r = kl_config_load(&cfg, argc, argv);
    if (r != 0) {
        kl_config_free(&cfg);
        return r > 0 ? 0 : 2;
    }
    r = kl_server_run(&cfg, NULL);
    kl_config_free(&cfg);
    return r;
}
