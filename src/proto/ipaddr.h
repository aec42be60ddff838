/* ipaddr.h - client addresses as text: IPv4 and IPv6 literals, CIDR lists
 * (KEEL_TRUSTED_PROXIES), the client behind a chain of trusted proxies (X-Forwarded-For, or
 * RFC 7239 Forwarded), and the group an address is rate-limited as. Pure functions over
 * bytes: nothing allocates, nothing reads past the lengths given.
 *
 * Every address is 16 bytes: IPv6 as is, IPv4 in its IPv4-mapped form (::ffff:a.b.c.d, RFC
 * 4291 2.5.5.2), so one comparison covers both, and the mapped peers of a dual-stack
 * listener are the IPv4 clients they are (never one IPv6 /64 holding every IPv4 client).
 *
 * Literals are what inet_pton accepts, no more: IPv4 is exactly four decimal octets 0..255
 * without leading zeros; IPv6 is RFC 4291 2.2 text (1 to 4 hex digits a group, one "::" that
 * stands for at least one group, an IPv4 tail), no zone ("%eth0"), no brackets. */
#ifndef KL_IPADDR_H
#define KL_IPADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** An IPv6 address, or an IPv4 one in its mapped form. */
typedef struct {
    uint8_t b[16]; /**< network byte order */
} kl_ip_t;

/** A network: the addresses whose first `bits` bits equal net's (an IPv4 /n is 96 + n). */
typedef struct {
    kl_ip_t net;  /**< host bits zero */
    uint8_t bits; /**< 0..128 */
} kl_cidr_t;

/** Which header a trusted proxy reports the hops in. */
typedef enum {
    KL_IP_FWD_XFF,       /**< X-Forwarded-For: addresses separated by commas */
    KL_IP_FWD_FORWARDED, /**< Forwarded (RFC 7239): the for= of each element */
} kl_ip_fwd_t;

/** Parses s[0..n) as an IPv4 or IPv6 literal into *out. Returns false (out unspecified) for
 * anything else. */
bool kl_ip_parse(const char *s, size_t n, kl_ip_t *out);

/** True for an IPv4 address (the mapped range ::ffff:0:0/96). */
bool kl_ip_is_v4(const kl_ip_t *ip);

/** The address ip is counted as: IPv4 addresses alone, IPv6 ones by their /64 (one
 * subscriber usually holds a whole /64, so counting single addresses would let it rotate
 * through 2^64 of them). */
void kl_ip_group(const kl_ip_t *ip, kl_ip_t *out);

/** Whether ip is inside one of the n networks. */
bool kl_cidr_match(const kl_cidr_t *list, size_t n, const kl_ip_t *ip);

/** Parses a list of networks, items separated by commas and/or spaces and tabs: an address
 * (a /32 or /128) or ADDRESS/PREFIX (prefix 0..32 for IPv4, 0..128 for IPv6, no host bits
 * set). Writes at most max items to out (out may be NULL to count only) and their number to
 * *count. Returns 0, or -EINVAL with *bad set to the offending item (or to the first item
 * past max). An empty list is valid. */
int kl_cidr_list_parse(const char *s, size_t n, kl_cidr_t *out, size_t max, size_t *count, const char **bad,
                       size_t *bad_len);

/** The client a request speaks for, into *out. When peer is not in trusted[0..ntrusted), or
 * hdr is NULL (the header is absent), peer itself. Otherwise the hops the header lists
 * (oldest first; several field lines joined with ", ") are walked from the right, starting
 * at peer: a trusted hop is stepped over, the first hop that is not trusted is the client; a
 * hop that is not an address (empty, "unknown", obfuscated, malformed, an element without
 * for=) ends the walk at the trusted hop after it, which reported it; when every hop is
 * trusted, the left-most. So a client can add any hops it likes on the left and still be
 * counted as the address the last trusted proxy saw. Hops may carry a port: 1.2.3.4:80,
 * [2001:db8::1]:80, [2001:db8::1]. */
void kl_ip_client(const kl_ip_t *peer, const kl_cidr_t *trusted, size_t ntrusted, kl_ip_fwd_t kind,
                  const char *hdr, size_t hdr_len, kl_ip_t *out);

#endif
