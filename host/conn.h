/*
** conn.h
** The client connections the host accepted itself and gave to gRPC (h2c): what
** each has sent, what its calls took, and the rules that end one that abuses
** the server. Plain C, thread-safe: the listener opens and forgets
** connections, workers account for calls, any thread may abort one.
**
** gRPC names such a connection's calls' peer "fd:N", N the descriptor the
** host gave it; conn_find maps that back to the connection.
*/
#ifndef conn_h
#define conn_h

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct conn conn;

/*
** A record for the accepted socket fd, with peer address sa, before fd goes
** to gRPC. The caller holds the one reference it returns (conn_forget gives
** it up). NULL when out of memory or out of descriptors.
*/
conn *conn_open(int fd, const struct sockaddr *sa);

/* The connection is closed: it can no longer be found. Gives up the caller's reference. */
void conn_forget(conn *c);

/*
** The connection is not gRPC's: the door serves it (HTTP/1.1) and bounds it
** itself. No call names it, and the rules here no longer watch it.
*/
void conn_unlist(conn *c);

/* The connection of a call whose gRPC peer is peer ("fd:N"), with a reference, or NULL. */
conn *conn_find(const char *peer);
void conn_release(conn *c);

/*
** The client sent much before it acknowledged the host's SETTINGS (listener.c):
** gRPC holds it to none of its limits, and the memory watch may end it.
*/
void conn_unacknowledged(conn *c);

/* The client's address as gRPC names peers: "ipv4:10.0.0.1:5000", "ipv6:[::1]:5000". */
const char *conn_peer(const conn *c);

/* Its address alone, for counting connections per client; 16 bytes (IPv4 as IPv6-mapped). */
const uint8_t *conn_address(const conn *c);

/* A descriptor for the connection that stays valid while c lives: to wait for its close. */
int conn_fd(const conn *c);

/* A call of c's took bytes of message (one message): what the client sent for a reason. */
void conn_took(conn *c, size_t bytes);

/* A call arrived on c. */
void conn_call(conn *c);

/*
** A call of c came with headers over the limit gRPC advertised: a client may
** send some before it learns the limit, one that goes on ignores it. Past a
** few, c is aborted.
*/
void conn_headers_over(conn *c);

/*
** The client cancelled a call of c that arrived at `arrived` (monotonic ns)
** before it was answered. Resets soon after arrival, faster than a rate (the
** pattern of CVE-2023-44487), abort c.
*/
void conn_reset(conn *c, int64_t arrived);

/*
** Every record of a connection the listener accepted, in *all (grown as
** needed, *cap long), each with a reference the caller gives up.
*/
size_t conn_all(conn ***all, size_t *cap);

/*
** What c sent since the last look that no call took ("junk": frames that
** carry no call, such as CONTINUATION, PING, SETTINGS or GOAWAY floods;
** headers far over any limit; requests still on their way), and in
** *calls_came whether a call came from it meanwhile. 0 when the kernel cannot
** tell. For one watching thread.
*/
int64_t conn_junk_since_last_look(conn *c, bool *calls_came);

/*
** For one watching thread: marks what c has sent and its junk (what no call
** took); then what came of each since, false when the kernel cannot tell or
** c was aborted.
*/
void conn_mark(conn *c);
bool conn_since_mark(const conn *c, int64_t *received, int64_t *junk);

/* Whether c was marked conn_unacknowledged. */
bool conn_acknowledged(const conn *c);

/*
** Aborts c when its junk stays past what requests on their way could be,
** with no call coming from it, for two checks. For one watching thread.
*/
void conn_check(conn *c);

/* Ends c at once (the client sees a reset), logging why with its peer. Only the first call counts. */
void conn_abort(conn *c, const char *why);

#endif
