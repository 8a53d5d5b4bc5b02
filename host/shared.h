/*
** shared.h
** The process's one key-value store, seen by every worker thread and kept
** across reloads (it lives in the process, not in a Lua state). Keys are
** byte strings; values strings, integers, floats or booleans, each with an
** optional time to live. The store is bounded in bytes: when a new entry does
** not fit, the least recently used entries go. Plain C, no Lua.
**
** Every call is safe from any thread, and holds a lock (one of SHARED_SHARDS,
** by key hash) for O(1) work, plus a copy of the value read or the entries
** evicted to make room.
*/
#ifndef shared_h
#define shared_h

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHARED_SHARDS 16

/* The longest key, as ngx.shared.DICT has it. */
#define SHARED_KEY_MAX 65535

/* The most one entry (key, value and the store's own bytes for it) may take: see shared_entry_max. */
#define SHARED_ENTRY_MAX (1024 * 1024)

typedef enum shared_type { SHARED_NIL, SHARED_BOOLEAN, SHARED_INTEGER, SHARED_FLOAT, SHARED_STRING } shared_type;

typedef struct shared_value {
  shared_type type;
  union {
    bool boolean;
    int64_t integer;
    double number;
    struct {
      const char *data;
      size_t len;
    } string;
  } as;
} shared_value;

typedef enum shared_result {
  SHARED_OK,
  SHARED_NOT_FOUND,       /* no such key, or it expired */
  SHARED_EXISTS,          /* add: the key has a live value */
  SHARED_NOT_A_NUMBER,    /* incr: the value is a string or a boolean */
  SHARED_TOO_LARGE,       /* the entry would take more than shared_entry_max() */
  SHARED_NO_MEMORY        /* malloc failed */
} shared_result;

/*
** Sets the store up for at most megabytes MiB (entries, their bookkeeping and
** the hash tables). Once, before any other call. -1 with the reason in err.
*/
int shared_open(size_t megabytes, char *err, size_t errlen);
void shared_close(void);

/* The most one entry may take: SHARED_ENTRY_MAX, or a shard's share of a smaller store. */
size_t shared_entry_max(void);

/* The bytes an entry of this key and value takes. */
size_t shared_entry_size(size_t klen, const shared_value *v);

/*
** Reads key into out. A string value is copied into buf when it fits in size
** bytes; out->as.string.len is its length either way, and its data NULL when
** it did not fit (call again with a larger buffer).
*/
shared_result shared_get(const char *key, size_t klen, shared_value *out, char *buf, size_t size);

/*
** Stores v (a copy) under key, for ttl seconds (0: for good); SHARED_NIL
** deletes. add: only if key has no live value (else SHARED_EXISTS).
** *forcible: live entries were evicted to make room.
*/
shared_result shared_set(const char *key, size_t klen, const shared_value *v, double ttl, bool add,
                         bool *forcible);

/*
** Adds by (an integer or a float) to the number under key, into out: two
** integers give an integer (wrapping around as Lua's do), anything else a
** float. A missing key starts at *init, or is SHARED_NOT_FOUND when init is
** NULL. The time to live of the key stays as it was.
*/
shared_result shared_incr(const char *key, size_t klen, const shared_value *by, const shared_value *init,
                          shared_value *out, bool *forcible);

void shared_delete(const char *key, size_t klen);

#endif
