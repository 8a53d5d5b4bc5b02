/*
** shared.c
** The store: SHARED_SHARDS shards chosen by key hash, each with its own lock,
** a hash table of chained entries sized once, a list of its entries from most
** to least recently used, and its share of the byte budget.
**
** No allocation under a lock: a new entry is made before its shard is locked,
** and what an operation removes (replaced, expired, evicted) is freed after
** the lock is released. A value whose size does not change is written in
** place, so counters and flags allocate nothing.
*/
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"
#include "shared.h"

#define CONTAINER_OF(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* What malloc adds to each block, counted against the budget. */
#define MALLOC_OVERHEAD 16

/* Buckets per byte of a shard's budget: one per 128 bytes, so chains stay short when full. */
#define BYTES_PER_BUCKET 128

/* At most one line a second about evictions. */
#define REPORT_NS 1000000000

typedef struct lru_link {
  struct lru_link *prev, *next;
} lru_link;

typedef struct entry {
  struct entry *next;               /* in its bucket; in the list to free once unlinked */
  lru_link lru;
  uint64_t hash;
  int64_t expires;                  /* CLOCK_MONOTONIC ns; 0: never */
  union {
    bool boolean;
    int64_t integer;
    double number;
  } num;                            /* the value, unless a string */
  uint32_t vlen;                    /* the string's length, else 0 */
  uint16_t klen;
  uint8_t type;                     /* shared_type */
  char data[];                      /* the key, then the string */
} entry;

typedef struct shard {
  _Alignas(64) pthread_mutex_t lock;   /* a cache line each, so that shards do not slow each other */
  entry **buckets;
  size_t mask;
  lru_link lru;                     /* most recently used first */
  size_t used;                      /* bytes of its entries */
  size_t budget;
} shard;

static struct {
  shard shards[SHARED_SHARDS];
  uint64_t seed[2];                 /* the hash key, random: keys from clients cannot be made to collide */
  size_t entry_max;
  size_t megabytes;
  atomic_ullong evicted;            /* live entries evicted since the last report */
  atomic_ullong evicted_total;
  atomic_llong reported;            /* when the last report went out */
} store;

/* ---- hashing: SipHash-1-3, as Python and Rust hash strings ---- */

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(uint64_t v[4]) {
  v[0] += v[1]; v[1] = ROTL(v[1], 13); v[1] ^= v[0]; v[0] = ROTL(v[0], 32);
  v[2] += v[3]; v[3] = ROTL(v[3], 16); v[3] ^= v[2];
  v[0] += v[3]; v[3] = ROTL(v[3], 21); v[3] ^= v[0];
  v[2] += v[1]; v[1] = ROTL(v[1], 17); v[1] ^= v[2]; v[2] = ROTL(v[2], 32);
}

static uint64_t hash_key(const char *key, size_t n) {
  const unsigned char *p = (const unsigned char *)key;
  uint64_t k0 = store.seed[0], k1 = store.seed[1];
  uint64_t v[4] = {k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
                   k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t m = 0;
    for (int j = 0; j < 8; j++) m |= (uint64_t)p[i + j] << (8 * j);
    v[3] ^= m;
    sip_round(v);
    v[0] ^= m;
  }
  uint64_t last = (uint64_t)n << 56;
  for (int j = 0; i + (size_t)j < n; j++) last |= (uint64_t)p[i + j] << (8 * j);
  v[3] ^= last;
  sip_round(v);
  v[0] ^= last;
  v[2] ^= 0xff;
  sip_round(v);
  sip_round(v);
  sip_round(v);
  return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* The top bits pick the shard, the bottom ones the bucket. */
static shard *shard_of(uint64_t hash) {
  return &store.shards[hash >> 60];
}

/* ---- entries ---- */

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* *now is read from the clock the first time an entry with a time to live needs it. */
static bool expired(const entry *e, int64_t *now) {
  if (e->expires == 0) return false;
  if (*now == 0) *now = now_ns();
  return e->expires <= *now;
}

static int64_t expiry(double ttl) {
  if (!(ttl > 0) || isinf(ttl)) return 0;
  if (ttl >= 9e9) return INT64_MAX;   /* some centuries: as good as never, without overflow */
  return now_ns() + (int64_t)(ttl * 1e9);
}

static size_t value_len(const shared_value *v) {
  return v->type == SHARED_STRING ? v->as.string.len : 0;
}

size_t shared_entry_size(size_t klen, const shared_value *v) {
  return sizeof(entry) + klen + value_len(v) + MALLOC_OVERHEAD;
}

static size_t entry_size(const entry *e) {
  return sizeof(entry) + e->klen + e->vlen + MALLOC_OVERHEAD;
}

/* Writes v into e, which has room for it (its vlen is v's length). */
static void write_value(entry *e, const shared_value *v) {
  e->type = (uint8_t)v->type;
  switch (v->type) {
  case SHARED_STRING: memcpy(e->data + e->klen, v->as.string.data, v->as.string.len); break;
  case SHARED_INTEGER: e->num.integer = v->as.integer; break;
  case SHARED_FLOAT: e->num.number = v->as.number; break;
  default: e->num.boolean = v->as.boolean; break;
  }
}

/* A value that is not a string. */
static void read_scalar(const entry *e, shared_value *out) {
  out->type = (shared_type)e->type;
  if (out->type == SHARED_INTEGER) out->as.integer = e->num.integer;
  else if (out->type == SHARED_FLOAT) out->as.number = e->num.number;
  else out->as.boolean = e->num.boolean;
}

static void read_value(const entry *e, shared_value *out, char *buf, size_t size) {
  if (e->type != SHARED_STRING) {
    read_scalar(e, out);
    return;
  }
  out->type = SHARED_STRING;
  out->as.string.len = e->vlen;
  out->as.string.data = e->vlen <= size ? memcpy(buf, e->data + e->klen, e->vlen) : NULL;
}

static entry *entry_new(uint64_t hash, const char *key, size_t klen, const shared_value *v, int64_t expires) {
  entry *e = malloc(sizeof *e + klen + value_len(v));
  if (e == NULL) return NULL;
  e->next = NULL;
  e->hash = hash;
  e->expires = expires;
  e->klen = (uint16_t)klen;
  e->vlen = (uint32_t)value_len(v);
  memcpy(e->data, key, klen);
  write_value(e, v);
  return e;
}

static void free_entries(entry *list) {
  while (list != NULL) {
    entry *next = list->next;
    free(list);
    list = next;
  }
}

/* ---- a shard's table and list; the shard is locked ---- */

/* Where key's entry is linked in its bucket, or where the bucket ends. */
static entry **find(shard *sh, uint64_t hash, const char *key, size_t klen) {
  entry **p = &sh->buckets[hash & sh->mask];
  while (*p != NULL && !((*p)->hash == hash && (*p)->klen == klen && memcmp((*p)->data, key, klen) == 0))
    p = &(*p)->next;
  return p;
}

static void lru_remove(lru_link *l) {
  l->prev->next = l->next;
  l->next->prev = l->prev;
}

static void lru_push(shard *sh, lru_link *l) {
  l->next = sh->lru.next;
  l->prev = &sh->lru;
  sh->lru.next->prev = l;
  sh->lru.next = l;
}

static void touch(shard *sh, entry *e) {
  lru_remove(&e->lru);
  lru_push(sh, &e->lru);
}

/* Unlinks the entry *p points at and puts it on *freed. */
static void unlink_entry(shard *sh, entry **p, entry **freed) {
  entry *e = *p;
  *p = e->next;
  lru_remove(&e->lru);
  sh->used -= entry_size(e);
  e->next = *freed;
  *freed = e;
}

static void insert(shard *sh, entry *e) {
  entry **head = &sh->buckets[e->hash & sh->mask];
  e->next = *head;
  *head = e;
  lru_push(sh, &e->lru);
  sh->used += entry_size(e);
}

/* The live entry for key, or NULL; an expired one is unlinked on the way. */
static entry **find_live(shard *sh, uint64_t hash, const char *key, size_t klen, int64_t *now, entry **freed) {
  entry **p = find(sh, hash, key, klen);
  if (*p == NULL) return NULL;
  if (!expired(*p, now)) return p;
  unlink_entry(sh, p, freed);
  return NULL;
}

/*
** Makes room for need more bytes, least recently used entries first, and takes
** up to two expired ones from the cold end besides (as ngx.shared.DICT does),
** so that memory held by expired keys nobody reads comes back. Returns how
** many live entries went.
*/
static size_t make_room(shard *sh, size_t need, int64_t *now, entry **freed) {
  size_t evicted = 0;
  for (int trimmed = 0; sh->lru.prev != &sh->lru; ) {
    entry *coldest = CONTAINER_OF(sh->lru.prev, entry, lru);
    bool dead = expired(coldest, now);
    if (sh->used + need <= sh->budget && (!dead || trimmed++ == 2)) break;
    evicted += !dead;
    unlink_entry(sh, find(sh, coldest->hash, coldest->data, coldest->klen), freed);
  }
  return evicted;
}

/* ---- reports ---- */

/*
** The first eviction after a quiet second is reported at once, later ones with
** the next report, at most one a second while they go on.
*/
static void report_evictions(size_t n) {
  if (n == 0) return;
  atomic_fetch_add(&store.evicted, n);
  atomic_fetch_add(&store.evicted_total, n);
  int64_t now = now_ns();
  long long last = atomic_load(&store.reported);
  if (now - last < REPORT_NS || !atomic_compare_exchange_strong(&store.reported, &last, now)) return;
  log_record r;
  static const char msg[] = "shared: the store is full; least recently used keys are evicted";
  log_begin(&r, LOG_WARN, msg, sizeof msg - 1);
  log_integer(&r, "evicted", (long long)atomic_exchange(&store.evicted, 0));
  log_integer(&r, "evicted_total", (long long)atomic_load(&store.evicted_total));
  log_integer(&r, "shared_memory_mb", (long long)store.megabytes);
  log_string(&r, "hint", "raise --shared-memory-mb, or give keys a ttl");
  log_end(&r);
}

/* ---- the store ---- */

int shared_open(size_t megabytes, char *err, size_t errlen) {
  size_t per_shard = (megabytes << 20) / SHARED_SHARDS;
  size_t n_buckets = 16;
  while (n_buckets * 2 <= per_shard / BYTES_PER_BUCKET) n_buckets *= 2;
  if (getrandom(store.seed, sizeof store.seed, 0) != sizeof store.seed) {
    store.seed[0] = (uint64_t)now_ns();
    store.seed[1] = (uint64_t)(uintptr_t)&store ^ (uint64_t)time(NULL);
  }
  store.megabytes = megabytes;
  store.entry_max = SHARED_ENTRY_MAX;
  atomic_store(&store.reported, now_ns() - REPORT_NS);
  for (int i = 0; i < SHARED_SHARDS; i++) {
    shard *sh = &store.shards[i];
    sh->buckets = calloc(n_buckets, sizeof *sh->buckets);   /* pages are touched as buckets fill */
    if (sh->buckets == NULL || pthread_mutex_init(&sh->lock, NULL) != 0) {
      free(sh->buckets);
      while (i-- > 0) {
        pthread_mutex_destroy(&store.shards[i].lock);
        free(store.shards[i].buckets);
      }
      snprintf(err, errlen, "out of memory for the shared store (--shared-memory-mb %zu)", megabytes);
      return -1;
    }
    sh->mask = n_buckets - 1;
    sh->lru.prev = sh->lru.next = &sh->lru;
    sh->budget = per_shard - n_buckets * sizeof *sh->buckets;
    sh->used = 0;
    if (sh->budget < store.entry_max) store.entry_max = sh->budget;
  }
  return 0;
}

void shared_close(void) {
  for (int i = 0; i < SHARED_SHARDS; i++) {
    shard *sh = &store.shards[i];
    for (size_t b = 0; b <= sh->mask; b++) free_entries(sh->buckets[b]);
    free(sh->buckets);
    sh->buckets = NULL;
    pthread_mutex_destroy(&sh->lock);
  }
}

size_t shared_entry_max(void) {
  return store.entry_max;
}

shared_result shared_get(const char *key, size_t klen, shared_value *out, char *buf, size_t size) {
  uint64_t hash = hash_key(key, klen);
  shard *sh = shard_of(hash);
  int64_t now = 0;
  entry *freed = NULL;
  pthread_mutex_lock(&sh->lock);
  entry **p = find_live(sh, hash, key, klen, &now, &freed);
  if (p != NULL) {
    touch(sh, *p);
    read_value(*p, out, buf, size);
  }
  pthread_mutex_unlock(&sh->lock);
  free_entries(freed);
  return p != NULL ? SHARED_OK : SHARED_NOT_FOUND;
}

/*
** Stores v under key: in place when the live entry there has the same size,
** else as e (made by the caller, taken: linked in or freed). Without e, and
** with no entry to write into, returns SHARED_NO_MEMORY for the caller to make
** one and call again.
*/
static shared_result put(uint64_t hash, const char *key, size_t klen, const shared_value *v, int64_t expires,
                         bool add, entry *e, bool *forcible) {
  shard *sh = shard_of(hash);
  int64_t now = 0;
  entry *freed = NULL;
  size_t evicted = 0;
  shared_result r = SHARED_OK;
  pthread_mutex_lock(&sh->lock);
  entry **p = find_live(sh, hash, key, klen, &now, &freed);
  if (p != NULL && add) {
    r = SHARED_EXISTS;
  } else if (p != NULL && (*p)->vlen == value_len(v)) {
    write_value(*p, v);
    (*p)->expires = expires;
    touch(sh, *p);
  } else if (e == NULL) {
    r = SHARED_NO_MEMORY;
  } else {
    if (p != NULL) unlink_entry(sh, p, &freed);
    evicted = make_room(sh, entry_size(e), &now, &freed);
    insert(sh, e);
    e = NULL;
  }
  pthread_mutex_unlock(&sh->lock);
  if (e != NULL) free(e);
  free_entries(freed);
  *forcible = evicted > 0;
  report_evictions(evicted);
  return r;
}

static shared_result store_value(uint64_t hash, const char *key, size_t klen, const shared_value *v,
                                 int64_t expires, bool add, bool *forcible) {
  if (shared_entry_size(klen, v) > store.entry_max) return SHARED_TOO_LARGE;
  entry *e = NULL;
  if (v->type == SHARED_STRING && (e = entry_new(hash, key, klen, v, expires)) == NULL) return SHARED_NO_MEMORY;
  shared_result r = put(hash, key, klen, v, expires, add, e, forcible);
  if (r != SHARED_NO_MEMORY || e != NULL) return r;
  if ((e = entry_new(hash, key, klen, v, expires)) == NULL) return SHARED_NO_MEMORY;
  return put(hash, key, klen, v, expires, add, e, forcible);
}

shared_result shared_set(const char *key, size_t klen, const shared_value *v, double ttl, bool add,
                         bool *forcible) {
  *forcible = false;
  if (v->type == SHARED_NIL) {
    shared_delete(key, klen);
    return SHARED_OK;
  }
  return store_value(hash_key(key, klen), key, klen, v, expiry(ttl), add, forcible);
}

static bool is_number(shared_type t) {
  return t == SHARED_INTEGER || t == SHARED_FLOAT;
}

static double as_float(const shared_value *v) {
  return v->type == SHARED_INTEGER ? (double)v->as.integer : v->as.number;
}

static void add_numbers(const shared_value *a, const shared_value *b, shared_value *sum) {
  if (a->type == SHARED_INTEGER && b->type == SHARED_INTEGER) {
    sum->type = SHARED_INTEGER;
    sum->as.integer = (int64_t)((uint64_t)a->as.integer + (uint64_t)b->as.integer);
  } else {
    sum->type = SHARED_FLOAT;
    sum->as.number = as_float(a) + as_float(b);
  }
}

/* The in-place half of incr: SHARED_NOT_FOUND when there is no live value to add to. */
static shared_result incr_live(uint64_t hash, const char *key, size_t klen, const shared_value *by,
                               shared_value *out) {
  shard *sh = shard_of(hash);
  int64_t now = 0;
  entry *freed = NULL;
  shared_result r = SHARED_NOT_FOUND;
  pthread_mutex_lock(&sh->lock);
  entry **p = find_live(sh, hash, key, klen, &now, &freed);
  if (p != NULL && !is_number((shared_type)(*p)->type)) {
    r = SHARED_NOT_A_NUMBER;
    out->type = (shared_type)(*p)->type;
  } else if (p != NULL) {
    shared_value old;
    read_scalar(*p, &old);
    add_numbers(&old, by, out);
    write_value(*p, out);
    touch(sh, *p);
    r = SHARED_OK;
  }
  pthread_mutex_unlock(&sh->lock);
  free_entries(freed);
  return r;
}

shared_result shared_incr(const char *key, size_t klen, const shared_value *by, const shared_value *init,
                          shared_value *out, bool *forcible) {
  uint64_t hash = hash_key(key, klen);
  *forcible = false;
  for (;;) {
    shared_result r = incr_live(hash, key, klen, by, out);
    if (r != SHARED_NOT_FOUND || init == NULL) return r;
    add_numbers(init, by, out);
    r = store_value(hash, key, klen, out, 0, true, forcible);
    if (r != SHARED_EXISTS) return r;
    /* another worker made the key meanwhile: add to theirs */
  }
}

void shared_delete(const char *key, size_t klen) {
  uint64_t hash = hash_key(key, klen);
  shard *sh = shard_of(hash);
  entry *freed = NULL;
  pthread_mutex_lock(&sh->lock);
  entry **p = find(sh, hash, key, klen);
  if (*p != NULL) unlink_entry(sh, p, &freed);
  pthread_mutex_unlock(&sh->lock);
  free_entries(freed);
}
