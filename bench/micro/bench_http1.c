/* bench_http1.c - microbenchmark of the HTTP/1.1 head parser and the chunked decoder.
 * Prints figures only; it asserts nothing about speed. */
#include "micro.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/http1.h"

#define HEAD_ITERS 2000000
#define CHUNK_ITERS 200000

/* A typical browser XHR to an API: ~10 fields, ~500 bytes. */
static const char request[] =
    "GET /api/bounties?status=open&limit=20 HTTP/1.1\r\n"
    "Host: api.example.com\r\n"
    "Connection: keep-alive\r\n"
    "Accept: application/json, text/plain, */*\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36\r\n"
    "Origin: https://app.example.com\r\n"
    "Referer: https://app.example.com/bounties\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl\r\n"
    "If-None-Match: \"5d8c72a5edda8d6a\"\r\n"
    "\r\n";

int main(void) {
    kl_http1_header_t h[32];
    kl_http1_request_t req;
    size_t len = sizeof request - 1, nh = 0;
    unsigned long long sink = 0;

    for (int i = 0; i < 1000; i++) { /* warm-up */
        req.headers = h;
        req.num_headers = 32;
        sink += (unsigned)kl_http1_parse_request(request, len, 0, NULL, &req);
    }
    double t0 = now();
    for (int i = 0; i < HEAD_ITERS; i++) {
        req.headers = h;
        req.num_headers = 32;
        int r = kl_http1_parse_request(request, len, 0, NULL, &req);
        if (r != (int)len) {
            fprintf(stderr, "bench_http1: parse failed (%d)\n", r);
            return 1;
        }
        sink += req.num_headers;
        __asm__ volatile("" ::: "memory"); /* keep the parse inside the loop */
    }
    double dt = now() - t0;
    nh = req.num_headers;
    printf("http1 parse: %zu-byte head, %zu fields, %d iterations\n", len, nh, HEAD_ITERS);
    printf("  %.0f req/s, %.1f ns/request, %.2f ns/header, %.2f GB/s\n", HEAD_ITERS / dt, dt * 1e9 / HEAD_ITERS,
           dt * 1e9 / HEAD_ITERS / (double)nh, (double)len * HEAD_ITERS / dt / 1e9);

    /* chunked: 16 KiB of data in 16 chunks of 1 KiB, with an extension on one and a trailer */
    static char body[32768], work[32768];
    size_t blen = 0, data = 0;
    for (int c = 0; c < 16; c++) {
        blen += (size_t)snprintf(body + blen, sizeof body - blen, c == 3 ? "400;name=\"v\"\r\n" : "400\r\n");
        memset(body + blen, 'a' + c, 1024);
        blen += 1024;
        data += 1024;
        memcpy(body + blen, "\r\n", 2);
        blen += 2;
    }
    blen += (size_t)snprintf(body + blen, sizeof body - blen, "0\r\nX-Checksum: 1234\r\n\r\n");
    t0 = now();
    for (int i = 0; i < CHUNK_ITERS; i++) {
        memcpy(work, body, blen); /* decoding is in place */
        kl_http1_chunked_t st = {.max_body = 1 << 20};
        size_t l = blen;
        ssize_t r = kl_http1_decode_chunked(&st, work, &l);
        if (r != 0 || l != data) {
            fprintf(stderr, "bench_http1: chunked decode failed (%zd)\n", r);
            return 1;
        }
        sink += l;
    }
    dt = now() - t0;
    printf("http1 chunked: %zu-byte body (%zu data bytes, 16 chunks), %d iterations, incl. a memcpy of the input\n",
           blen, data, CHUNK_ITERS);
    printf("  %.1f ns/body, %.2f GB/s of input\n", dt * 1e9 / CHUNK_ITERS, (double)blen * CHUNK_ITERS / dt / 1e9);

    /* byte-by-byte worst case for the chunked state machine: 1-byte chunks */
    static char tiny[40000], tw[40000];
    size_t tlen = 0;
    for (int c = 0; c < 5000; c++) tlen += (size_t)snprintf(tiny + tlen, sizeof tiny - tlen, "1\r\nz\r\n");
    tlen += (size_t)snprintf(tiny + tlen, sizeof tiny - tlen, "0\r\n\r\n");
    t0 = now();
    for (int i = 0; i < 2000; i++) {
        memcpy(tw, tiny, tlen);
        kl_http1_chunked_t st = {.max_body = 1 << 20};
        size_t l = tlen;
        if (kl_http1_decode_chunked(&st, tw, &l) != 0) return 1;
        sink += l;
    }
    dt = now() - t0;
    printf("http1 chunked, 1-byte chunks: %.2f ns per input byte\n", dt * 1e9 / 2000 / (double)tlen);
    if (sink == 42) printf("%llu\n", sink);
    return 0;
}
