/*
** schema.c
** Descriptor sets -> immutable tables of services, methods, messages, fields
** and enums, with the lookups the server and the codec need on every call.
**
** The unpacked FileDescriptorSets stay alive inside the schema: names,
** default values and descriptor options point into them. Everything else the
** schema builds lives in one arena, freed at once by schema_free.
*/
#define _POSIX_C_SOURCE 200809L

#include "schema.h"

#include <dirent.h>
#include <stdatomic.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "fsutil.h"
#include "wire.h"

typedef Google__Protobuf__FileDescriptorSet FileSet;
typedef Google__Protobuf__FileDescriptorProto FileProto;
typedef Google__Protobuf__DescriptorProto MessageProto;
typedef Google__Protobuf__FieldDescriptorProto FieldProto;
typedef Google__Protobuf__EnumDescriptorProto EnumProto;
typedef Google__Protobuf__ServiceDescriptorProto ServiceProto;
typedef Google__Protobuf__MethodDescriptorProto MethodProto;


/*
** {======================================================
** Arena: every allocation of the schema but the unpacked sets
** =======================================================
*/

#define ARENA_BLOCK 16384

typedef struct arena_block {
  struct arena_block *next;
  size_t used, size;
  max_align_t data[];
} arena_block;

static void *arena_alloc(arena_block **arena, size_t size) {
  arena_block *b = *arena;
  size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
  if (b == NULL || b->size - b->used < size) {
    size_t bsize = size > ARENA_BLOCK ? size : ARENA_BLOCK;
    b = malloc(sizeof *b + bsize);
    if (b == NULL) return NULL;
    b->used = 0;
    b->size = bsize;
    if (*arena != NULL && size > ARENA_BLOCK) {   /* keep the roomier block current */
      b->next = (*arena)->next;
      (*arena)->next = b;
    } else {
      b->next = *arena;
      *arena = b;
    }
  }
  void *p = (char *)b->data + b->used;
  b->used += size;
  return memset(p, 0, size);
}

static void arena_free(arena_block *b) {
  while (b != NULL) {
    arena_block *next = b->next;
    free(b);
    b = next;
  }
}

/* }====================================================== */

/*
** {======================================================
** Name index: open addressing over an array of structs whose first member is
** their name (a field, an enum value, a message, a service, a method)
** =======================================================
*/

typedef struct index_slot {
  uint32_t item;       /* position in the array + 1; 0 when empty */
  uint32_t len;        /* length of the name: most misses stop here */
} index_slot;

typedef struct name_index {
  const char *base;
  size_t stride;
  index_slot *slots;   /* a power of two of them, at most half full */
  uint32_t mask;
} name_index;

#define NAME_AT(ix, i) (*(const char *const *)((ix)->base + (size_t)(i) * (ix)->stride))

/* Eight bytes a step: a field name or a method path takes one to four. */
static uint32_t hash_name(const char *s, size_t len) {
  uint64_t h = len * 0x9E3779B97F4A7C15u, w;
  for (; len >= 8; s += 8, len -= 8) {
    memcpy(&w, s, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDu;
  }
  if (len > 0) {
    w = 0;
    memcpy(&w, s, len);
    h = (h ^ w) * 0xFF51AFD7ED558CCDu;
  }
  return (uint32_t)(h >> 32);   /* the high half depends on every byte */
}

static const void *index_find(const name_index *ix, const char *name, size_t len) {
  for (uint32_t i = hash_name(name, len) & ix->mask;; i = (i + 1) & ix->mask) {
    const index_slot *sl = &ix->slots[i];
    if (sl->item == 0) return NULL;
    if (sl->len == len && memcmp(NAME_AT(ix, sl->item - 1), name, len) == 0)
      return ix->base + (size_t)(sl->item - 1) * ix->stride;
  }
}

/*
** Indexes the n structs at base. Returns 0, or -1 when out of memory, or the
** position + 1 of the first struct whose name an earlier one has.
*/
static size_t index_build(arena_block **arena, name_index *ix, const void *base, size_t stride,
                          size_t n) {
  size_t size = 1;
  while (size < 2 * n) size <<= 1;
  ix->base = base;
  ix->stride = stride;
  ix->mask = (uint32_t)(size - 1);
  ix->slots = arena_alloc(arena, size * sizeof *ix->slots);
  if (ix->slots == NULL) return (size_t)-1;
  for (size_t k = 0; k < n; k++) {
    const char *name = NAME_AT(ix, k);
    size_t len = strlen(name);
    if (index_find(ix, name, len) != NULL) return k + 1;
    uint32_t i = hash_name(name, len) & ix->mask;
    while (ix->slots[i].item != 0) i = (i + 1) & ix->mask;
    ix->slots[i].item = (uint32_t)k + 1;
    ix->slots[i].len = (uint32_t)len;
  }
  return 0;
}

/* }====================================================== */

/*
** {======================================================
** The schema
** =======================================================
*/

typedef struct file {
  const FileProto *d;
  const char *origin;                /* the protoset it came from, for errors */
  bool proto3;
} file;

/* The public parts come first: a schema_message pointer is a message pointer. */
typedef struct message {
  schema_message pub;
  const MessageProto *d;
  const file *file;
  name_index by_name;
  name_index by_json_name;           /* of schema_field.json_name: a second array of pointers */
  const schema_field **by_number;    /* direct table when numbers are dense, else NULL */
  uint32_t n_by_number;
} message;

typedef struct enum_type {
  schema_enum pub;
  const EnumProto *d;
  const file *file;
  name_index by_name;
  const schema_enum_value **by_number;  /* sorted; of aliases, the first declared */
  size_t n_numbers;
  bool dense;                        /* values[i].number == i for all i */
} enum_type;

struct schema {
  atomic_int refs;                  /* states built on it, and the loader's own */
  arena_block *arena;
  FileSet **sets;
  size_t n_sets;
  file *files;
  size_t n_files;
  message *messages;
  size_t n_messages;
  enum_type *enums;
  size_t n_enums;
  schema_service *services;
  size_t n_services;
  schema_method *methods;
  size_t n_methods;
  name_index message_ix, enum_ix, service_ix, method_ix;
  uint32_t n_fields;                /* of every message: the next schema_field.id */
  uint64_t serial;
};

_Static_assert(offsetof(message, pub) == 0 && offsetof(schema_message, full_name) == 0,
               "message index keys on pub.full_name");
_Static_assert(offsetof(enum_type, pub) == 0 && offsetof(schema_enum, full_name) == 0,
               "enum index keys on pub.full_name");
_Static_assert(offsetof(schema_field, name) == 0, "field index keys on name");
_Static_assert(offsetof(schema_enum_value, name) == 0, "value index keys on name");
_Static_assert(offsetof(schema_service, full_name) == 0, "service index keys on full_name");
_Static_assert(offsetof(schema_method, path) == 0, "method index keys on path");

typedef struct loader {
  schema *s;
  char *err;
  size_t errlen;
} loader;

static int fail(loader *ld, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (ld->errlen > 0) vsnprintf(ld->err, ld->errlen, fmt, ap);
  va_end(ap);
  return -1;
}

static int oom(loader *ld) { return fail(ld, "protoset: out of memory"); }

static void *ld_alloc(loader *ld, size_t size) {
  void *p = arena_alloc(&ld->s->arena, size);
  if (p == NULL) oom(ld);
  return p;
}

/* "a" + "." + "b", or "b" when a is empty. */
static char *join(loader *ld, const char *a, const char *sep, const char *b) {
  size_t la = a ? strlen(a) : 0, ls = la ? strlen(sep) : 0, lb = strlen(b);
  char *p = ld_alloc(ld, la + ls + lb + 1);
  if (p == NULL) return NULL;
  if (la > 0) {
    memcpy(p, a, la);
    memcpy(p + la, sep, ls);
  }
  memcpy(p + la + ls, b, lb + 1);
  return p;
}

/* scope.name (name alone without a scope), or NULL with the error set unless it is a full name
** protoc could have made: names joined by single dots. find_named takes a leading dot for
** protoc's, so ".x" would never be found as itself. */
static char *full_name(loader *ld, const file *f, const char *what, const char *scope,
                       const char *name) {
  char *p = join(ld, scope, ".", name);
  if (p != NULL && (p[0] == '\0' || p[0] == '.' || p[strlen(p) - 1] == '.' || strstr(p, ".."))) {
    fail(ld, "protoset %s: %s \"%s\" is not a full name (names joined by single dots)",
         f->origin, what, p);
    return NULL;
  }
  return p;
}

/* }====================================================== */

/*
** {======================================================
** Reading descriptor sets
** =======================================================
*/

static int read_file(loader *ld, const char *path, uint8_t **data, size_t *len) {
  *data = (uint8_t *)fs_read_file(path, len);
  if (*data != NULL) return 0;
  if (errno == EISDIR || errno == EINVAL) return fail(ld, "protoset %s: not a regular file", path);
  return fail(ld, "protoset %s: %s", path, strerror(errno));
}

static const file *find_file(const schema *s, const char *name) {
  for (size_t i = 0; i < s->n_files; i++)
    if (strcmp(s->files[i].d->name, name) == 0) return &s->files[i];
  return NULL;
}

/* Keeps the set and adds the files not seen in an earlier set. */
static int add_set(loader *ld, FileSet *set, const char *origin) {
  schema *s = ld->s;
  FileSet **sets = realloc(s->sets, (s->n_sets + 1) * sizeof *sets);
  if (sets == NULL) {
    google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
    return fail(ld, "protoset %s: out of memory", origin);
  }
  s->sets = sets;
  s->sets[s->n_sets++] = set;
  if (set->n_file == 0) return fail(ld, "protoset %s: not a FileDescriptorSet (no files)", origin);
  file *files = realloc(s->files, (s->n_files + set->n_file) * sizeof *files);
  if (files == NULL) return fail(ld, "protoset %s: out of memory", origin);
  s->files = files;
  for (size_t i = 0; i < set->n_file; i++) {
    const FileProto *fd = set->file[i];
    if (fd->name == NULL) return fail(ld, "protoset %s: file without a name", origin);
    if (find_file(s, fd->name) != NULL) continue;
    file *f = &s->files[s->n_files++];
    f->d = fd;
    f->origin = origin;
    f->proto3 = fd->syntax != NULL && strcmp(fd->syntax, "proto3") == 0;
  }
  return 0;
}

static int load_file(loader *ld, const char *path) {
  uint8_t *data;
  size_t len = 0;
  const char *origin = join(ld, NULL, "", path);   /* errors found later still name it */
  if (origin == NULL || read_file(ld, path, &data, &len) < 0) return -1;
  FileSet *set = google__protobuf__file_descriptor_set__unpack(NULL, len, data);
  free(data);
  if (set == NULL) return fail(ld, "protoset %s: not a FileDescriptorSet", path);
  return add_set(ld, set, origin);
}

static int is_protoset_name(const struct dirent *e) {
  size_t n = strlen(e->d_name);
  return (n > 3 && strcmp(e->d_name + n - 3, ".pb") == 0) ||
         (n > 9 && strcmp(e->d_name + n - 9, ".protoset") == 0);
}

static int dirent_order(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static int load_dir(loader *ld, const char *dir) {
  struct dirent **list;
  int n = scandir(dir, &list, is_protoset_name, dirent_order), rc = 0;
  if (n < 0) return fail(ld, "protoset %s: %s", dir, strerror(errno));
  if (n == 0) rc = fail(ld, "protoset %s: no *.pb or *.protoset file", dir);
  for (int i = 0; i < n; i++) {
    if (rc == 0) {
      size_t l = strlen(dir);
      const char *path = join(ld, dir, l && dir[l - 1] == '/' ? "" : "/", list[i]->d_name);
      rc = path == NULL ? -1 : load_file(ld, path);
    }
    free(list[i]);
  }
  free(list);
  return rc;
}

static int load_path(loader *ld, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return fail(ld, "protoset %s: %s", path, strerror(errno));
  return S_ISDIR(st.st_mode) ? load_dir(ld, path) : load_file(ld, path);
}

/* }====================================================== */

/*
** {======================================================
** Types: messages and enums, named, then linked
** =======================================================
*/

static void count_types(const MessageProto *const *ms, size_t n, size_t *n_messages,
                        size_t *n_enums) {
  for (size_t i = 0; i < n; i++) {
    *n_messages += 1;
    *n_enums += ms[i]->n_enum_type;
    count_types((const MessageProto *const *)ms[i]->nested_type, ms[i]->n_nested_type,
                n_messages, n_enums);
  }
}

static int name_enums(loader *ld, const file *f, const char *scope, EnumProto *const *es,
                      size_t n) {
  for (size_t i = 0; i < n; i++) {
    enum_type *e = &ld->s->enums[ld->s->n_enums++];
    if (es[i]->name == NULL) return fail(ld, "protoset %s: enum without a name", f->origin);
    e->d = es[i];
    e->file = f;
    e->pub.full_name = full_name(ld, f, "enum", scope, es[i]->name);
    if (e->pub.full_name == NULL) return -1;
  }
  return 0;
}

static int name_messages(loader *ld, const file *f, const char *scope, MessageProto *const *ms,
                         size_t n) {
  for (size_t i = 0; i < n; i++) {
    message *m = &ld->s->messages[ld->s->n_messages++];
    if (ms[i]->name == NULL) return fail(ld, "protoset %s: message without a name", f->origin);
    m->d = ms[i];
    m->file = f;
    m->pub.full_name = full_name(ld, f, "message", scope, ms[i]->name);
    if (m->pub.full_name == NULL ||
        name_enums(ld, f, m->pub.full_name, ms[i]->enum_type, ms[i]->n_enum_type) < 0 ||
        name_messages(ld, f, m->pub.full_name, ms[i]->nested_type, ms[i]->n_nested_type) < 0)
      return -1;
  }
  return 0;
}

/* Message or enum named by a descriptor's type_name, ".pkg.Outer.Inner". */
static const void *find_type(const name_index *ix, const char *type_name) {
  if (type_name == NULL || type_name[0] != '.') return NULL;
  return index_find(ix, type_name + 1, strlen(type_name + 1));
}

static int value_order(const void *a, const void *b) {
  const schema_enum_value *x = *(const schema_enum_value *const *)a;
  const schema_enum_value *y = *(const schema_enum_value *const *)b;
  if (x->number != y->number) return x->number < y->number ? -1 : 1;
  return x < y ? -1 : x > y;   /* stable: aliases keep declaration order */
}

static int link_enum(loader *ld, enum_type *e) {
  const EnumProto *d = e->d;
  size_t n = d->n_value, k = 0;
  schema_enum_value *v = ld_alloc(ld, (n ? n : 1) * sizeof *v);
  const schema_enum_value **sorted = ld_alloc(ld, (n ? n : 1) * sizeof *sorted);
  size_t dup;
  if (v == NULL || sorted == NULL) return -1;
  if (n == 0)
    return fail(ld, "protoset %s: enum %s has no values", e->file->origin, e->pub.full_name);
  e->dense = true;
  for (size_t i = 0; i < n; i++) {
    if (d->value[i]->name == NULL)
      return fail(ld, "protoset %s: enum %s: value without a name", e->file->origin,
                  e->pub.full_name);
    v[i].name = d->value[i]->name;
    v[i].number = d->value[i]->number;
    sorted[i] = &v[i];
    e->dense = e->dense && v[i].number == (int32_t)i;
  }
  qsort(sorted, n, sizeof *sorted, value_order);
  for (size_t i = 0; i < n; i++)   /* drop aliases: the first declared stays */
    if (k == 0 || sorted[k - 1]->number != sorted[i]->number) sorted[k++] = sorted[i];
  e->pub.values = v;
  e->pub.n_values = n;
  e->pub.closed = !e->file->proto3;
  e->by_number = sorted;
  e->n_numbers = k;
  if ((dup = index_build(&ld->s->arena, &e->by_name, v, sizeof *v, n)) != 0)
    return dup == (size_t)-1 ? oom(ld)
                             : fail(ld, "protoset %s: enum %s: value %s defined twice",
                                    e->file->origin, e->pub.full_name, v[dup - 1].name);
  return 0;
}

/* protoc's default JSON name: underscores dropped, the letter after each one upper-cased. */
static const char *json_name(loader *ld, const char *name) {
  char *p = ld_alloc(ld, strlen(name) + 1), *o = p;
  bool upper = false;
  if (p == NULL) return NULL;
  for (; *name; name++) {
    if (*name == '_') upper = true;
    else {
      *o++ = upper && *name >= 'a' && *name <= 'z' ? (char)(*name - 'a' + 'A') : *name;
      upper = false;
    }
  }
  *o = '\0';
  return p;
}

static bool packable(field_type t) {
  return t != FIELD_STRING && t != FIELD_BYTES && t != FIELD_MESSAGE && t != FIELD_GROUP;
}

/*
** Fills f from fd. n_real is the number of real oneofs: protoc puts the
** synthetic oneofs of proto3 `optional` fields after them, and we drop those
** (such a field has oneof -1 and has_presence set).
*/
static int link_field(loader *ld, const message *m, const FieldProto *fd, size_t n_real,
                      schema_field *f) {
  const schema *s = ld->s;
  const char *origin = m->file->origin, *mname = m->pub.full_name;
  if (fd->name == NULL) return fail(ld, "protoset %s: %s: field without a name", origin, mname);
  if (!fd->has_number || fd->number < 1 || (uint32_t)fd->number > WIRE_MAX_FIELD_NUMBER)
    return fail(ld, "protoset %s: %s.%s: bad field number", origin, mname, fd->name);
  f->name = fd->name;
  f->name_len = strlen(fd->name);
  f->json_name = fd->json_name ? fd->json_name : json_name(ld, fd->name);
  if (f->json_name == NULL) return -1;
  f->number = (uint32_t)fd->number;
  f->label = fd->has_label ? (field_label)fd->label : LABEL_OPTIONAL;
  f->type = (field_type)fd->type;
  f->oneof = -1;
  f->default_value = fd->default_value;
  if (!fd->has_type && fd->type_name != NULL)   /* protoc resolves it; hand-made sets may not */
    f->type = find_type(&s->message_ix, fd->type_name) ? FIELD_MESSAGE : FIELD_ENUM;
  if (f->type < FIELD_DOUBLE || f->type > FIELD_SINT64 || f->label < LABEL_OPTIONAL ||
      f->label > LABEL_REPEATED)
    return fail(ld, "protoset %s: %s.%s: bad type or label", origin, mname, fd->name);
  if (f->type == FIELD_MESSAGE || f->type == FIELD_GROUP) {
    f->message = find_type(&s->message_ix, fd->type_name);
    if (f->message == NULL) goto unknown;
  } else if (f->type == FIELD_ENUM) {
    f->enum_type = find_type(&s->enum_ix, fd->type_name);
    if (f->enum_type == NULL) goto unknown;
  }
  if (fd->has_oneof_index && !fd->proto3_optional) {
    if (fd->oneof_index < 0 || (size_t)fd->oneof_index >= n_real)
      return fail(ld, "protoset %s: %s.%s: bad oneof index", origin, mname, fd->name);
    f->oneof = fd->oneof_index;
  }
  f->is_map = f->label == LABEL_REPEATED && f->type == FIELD_MESSAGE && f->message->map_entry;
  f->has_presence = f->label != LABEL_REPEATED &&
                    (f->type == FIELD_MESSAGE || f->type == FIELD_GROUP || f->oneof >= 0 ||
                     fd->proto3_optional || !m->pub.proto3);
  f->packed = f->label == LABEL_REPEATED && packable(f->type) &&
              (fd->options != NULL && fd->options->has_packed ? fd->options->packed
                                                              : m->pub.proto3);
  return 0;
unknown:
  return fail(ld, "protoset %s: %s refers to unknown type %s", origin, mname,
              fd->type_name ? fd->type_name : "(none)");
}

static int field_order(const void *a, const void *b) {
  uint32_t x = ((const schema_field *)a)->number, y = ((const schema_field *)b)->number;
  return (x > y) - (x < y);
}

/* Direct number -> field table when the numbers are dense enough to pay. */
static int index_numbers(loader *ld, message *m) {
  size_t n = m->pub.n_fields;
  uint32_t max = n ? m->pub.fields[n - 1].number : 0;
  if (max > 2 * n + 16) return 0;
  m->by_number = ld_alloc(ld, (max + 1) * sizeof *m->by_number);
  if (m->by_number == NULL) return -1;
  m->n_by_number = max + 1;
  for (size_t i = 0; i < n; i++) m->by_number[m->pub.fields[i].number] = &m->pub.fields[i];
  return 0;
}

/*
** The index of JSON names, over an array of pointers to them (an index keys
** on the first member of what it indexes). proto2 lets two fields share a
** JSON name: the later one is then indexed under its own name.
*/
static int index_json_names(loader *ld, message *m) {
  size_t n = m->pub.n_fields, dup;
  const char **names = ld_alloc(ld, (n ? n : 1) * sizeof *names);
  if (names == NULL) return -1;
  for (size_t i = 0; i < n; i++) names[i] = m->pub.fields[i].json_name;
  for (size_t tries = 0; tries <= n; tries++) {
    if ((dup = index_build(&ld->s->arena, &m->by_json_name, names, sizeof *names, n)) == 0) return 0;
    if (dup == (size_t)-1) return oom(ld);
    names[dup - 1] = m->pub.fields[dup - 1].name;
  }
  return index_build(&ld->s->arena, &m->by_json_name, names, sizeof *names, 0) == 0 ? 0 : oom(ld);
}

static int link_message(loader *ld, message *m) {
  const MessageProto *d = m->d;
  const char *origin = m->file->origin;
  size_t n = d->n_field, n_real = d->n_oneof_decl, dup;
  schema_field *fields = ld_alloc(ld, (n ? n : 1) * sizeof *fields);
  const char **oneofs = ld_alloc(ld, (n_real ? n_real : 1) * sizeof *oneofs);
  if (fields == NULL || oneofs == NULL) return -1;
  size_t synthetic = 0;
  for (size_t i = 0; i < n; i++)
    synthetic += d->field[i]->proto3_optional && d->field[i]->has_oneof_index;
  if (synthetic > n_real)
    return fail(ld, "protoset %s: %s: more proto3 optional fields than oneofs", origin,
                m->pub.full_name);
  n_real -= synthetic;
  for (size_t i = 0; i < n_real; i++)
    oneofs[i] = d->oneof_decl[i]->name ? d->oneof_decl[i]->name : "";
  for (size_t i = 0; i < n; i++)
    if (link_field(ld, m, d->field[i], n_real, &fields[i]) < 0) return -1;
  qsort(fields, n, sizeof *fields, field_order);
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && fields[i].number == fields[i - 1].number)
      return fail(ld, "protoset %s: %s: field number %u used twice", origin, m->pub.full_name,
                  (unsigned)fields[i].number);
    fields[i].id = ld->s->n_fields++;
    m->pub.n_required += fields[i].label == LABEL_REQUIRED;
    m->pub.n_implicit += fields[i].label == LABEL_REPEATED || !fields[i].has_presence;
  }
  m->pub.fields = fields;
  m->pub.n_fields = n;
  m->pub.serial = ld->s->serial;
  m->pub.oneofs = oneofs;
  m->pub.n_oneofs = n_real;
  if (m->pub.map_entry && (n != 2 || fields[0].number != 1 || fields[1].number != 2))
    return fail(ld, "protoset %s: %s: bad map entry", origin, m->pub.full_name);
  if ((dup = index_build(&ld->s->arena, &m->by_name, fields, sizeof *fields, n)) != 0)
    return dup == (size_t)-1 ? oom(ld)
                             : fail(ld, "protoset %s: %s: field %s defined twice", origin,
                                    m->pub.full_name, fields[dup - 1].name);
  if (index_json_names(ld, m) < 0) return -1;
  return index_numbers(ld, m);
}

static int dup_type(loader *ld, const file *f, const char *full_name) {
  return fail(ld, "protoset %s: type %s is defined twice", f->origin, full_name);
}

static int link_types(loader *ld) {
  schema *s = ld->s;
  size_t n_messages = 0, n_enums = 0, dup;
  for (size_t i = 0; i < s->n_files; i++) {
    const FileProto *fd = s->files[i].d;
    n_enums += fd->n_enum_type;
    count_types((const MessageProto *const *)fd->message_type, fd->n_message_type, &n_messages,
                &n_enums);
  }
  s->messages = ld_alloc(ld, (n_messages ? n_messages : 1) * sizeof *s->messages);
  s->enums = ld_alloc(ld, (n_enums ? n_enums : 1) * sizeof *s->enums);
  if (s->messages == NULL || s->enums == NULL) return -1;
  for (size_t i = 0; i < s->n_files; i++) {
    const file *f = &s->files[i];
    if (name_enums(ld, f, f->d->package, f->d->enum_type, f->d->n_enum_type) < 0 ||
        name_messages(ld, f, f->d->package, f->d->message_type, f->d->n_message_type) < 0)
      return -1;
  }
  dup = index_build(&s->arena, &s->message_ix, s->messages, sizeof *s->messages, s->n_messages);
  if (dup == (size_t)-1) return oom(ld);
  if (dup != 0) return dup_type(ld, s->messages[dup - 1].file, s->messages[dup - 1].pub.full_name);
  dup = index_build(&s->arena, &s->enum_ix, s->enums, sizeof *s->enums, s->n_enums);
  if (dup == (size_t)-1) return oom(ld);
  if (dup != 0) return dup_type(ld, s->enums[dup - 1].file, s->enums[dup - 1].pub.full_name);
  for (size_t i = 0; i < s->n_messages; i++) {   /* before fields: is_map reads it */
    message *m = &s->messages[i];
    m->pub.proto3 = m->file->proto3;
    m->pub.map_entry = m->d->options != NULL && m->d->options->map_entry;
  }
  for (size_t i = 0; i < s->n_enums; i++)
    if (link_enum(ld, &s->enums[i]) < 0) return -1;
  for (size_t i = 0; i < s->n_messages; i++)
    if (link_message(ld, &s->messages[i]) < 0) return -1;
  return 0;
}

/* }====================================================== */

/*
** {======================================================
** Services and methods
** =======================================================
*/

static int link_method(loader *ld, const file *f, schema_service *svc, const MethodProto *md,
                       schema_method *m) {
  if (md->name == NULL)
    return fail(ld, "protoset %s: %s: method without a name", f->origin, svc->full_name);
  m->name = md->name;
  m->service = svc;
  m->path = join(ld, "/", "", svc->full_name);
  m->path = m->path ? join(ld, m->path, "/", md->name) : NULL;
  if (m->path == NULL) return -1;
  m->input = find_type(&ld->s->message_ix, md->input_type);
  m->output = find_type(&ld->s->message_ix, md->output_type);
  if (m->input == NULL || m->output == NULL)
    return fail(ld, "protoset %s: %s.%s refers to unknown type %s", f->origin, svc->full_name,
                md->name, m->input == NULL ? md->input_type : md->output_type);
  m->kind = md->client_streaming ? (md->server_streaming ? METHOD_BIDI_STREAMING
                                                         : METHOD_CLIENT_STREAMING)
                                 : (md->server_streaming ? METHOD_SERVER_STREAMING : METHOD_UNARY);
  m->index = (size_t)(m - ld->s->methods);
  return 0;
}

static int link_services(loader *ld) {
  schema *s = ld->s;
  size_t n_services = 0, n_methods = 0, dup;
  for (size_t i = 0; i < s->n_files; i++) {
    n_services += s->files[i].d->n_service;
    for (size_t j = 0; j < s->files[i].d->n_service; j++)
      n_methods += s->files[i].d->service[j]->n_method;
  }
  s->services = ld_alloc(ld, (n_services ? n_services : 1) * sizeof *s->services);
  s->methods = ld_alloc(ld, (n_methods ? n_methods : 1) * sizeof *s->methods);
  if (s->services == NULL || s->methods == NULL) return -1;
  for (size_t i = 0; i < s->n_files; i++) {
    const file *f = &s->files[i];
    for (size_t j = 0; j < f->d->n_service; j++) {
      const ServiceProto *sd = f->d->service[j];
      schema_service *svc = &s->services[s->n_services++];
      schema_method *methods = &s->methods[s->n_methods];
      if (sd->name == NULL) return fail(ld, "protoset %s: service without a name", f->origin);
      svc->name = sd->name;
      svc->full_name = full_name(ld, f, "service", f->d->package, sd->name);
      if (svc->full_name == NULL) return -1;
      for (size_t k = 0; k < sd->n_method; k++)
        if (link_method(ld, f, svc, sd->method[k], &s->methods[s->n_methods++]) < 0) return -1;
      svc->methods = methods;
      svc->n_methods = sd->n_method;
    }
  }
  dup = index_build(&s->arena, &s->service_ix, s->services, sizeof *s->services, s->n_services);
  if (dup != 0 && dup != (size_t)-1) {
    const file *f = s->files;   /* services were numbered file by file */
    for (size_t k = dup - 1; k >= f->d->n_service; f++) k -= f->d->n_service;
    return fail(ld, "protoset %s: service %s is defined twice", f->origin,
                s->services[dup - 1].full_name);
  }
  if (dup == 0) dup = index_build(&s->arena, &s->method_ix, s->methods, sizeof *s->methods,
                                 s->n_methods);
  if (dup == (size_t)-1) return oom(ld);
  if (dup != 0) return fail(ld, "protoset: method %s is defined twice", s->methods[dup - 1].path);
  return 0;
}

/* }====================================================== */

/*
** {======================================================
** Public interface
** =======================================================
*/

/* A set in memory: it is copied by unpacking, so the caller's bytes may be static. */
static int load_bytes(loader *ld, const void *data, size_t size) {
  FileSet *set = google__protobuf__file_descriptor_set__unpack(NULL, size, data);
  if (set == NULL) return fail(ld, "protoset (built in): not a FileDescriptorSet");
  return add_set(ld, set, "(built in)");
}

schema *schema_load(const char *const *paths, size_t n_paths, char *err, size_t errlen) {
  return schema_load_with(NULL, 0, paths, n_paths, err, errlen);
}

schema *schema_load_with(const void *set, size_t size, const char *const *paths, size_t n_paths,
                         char *err, size_t errlen) {
  loader ld = {calloc(1, sizeof(schema)), err, errlen};
  if (ld.s == NULL) {
    fail(&ld, "protoset: out of memory");
    return NULL;
  }
  static atomic_uint_fast64_t serials;
  ld.s->serial = atomic_fetch_add(&serials, 1) + 1;
  if (set != NULL && load_bytes(&ld, set, size) < 0) goto failed;
  for (size_t i = 0; i < n_paths; i++)
    if (load_path(&ld, paths[i]) < 0) goto failed;
  if (link_types(&ld) < 0 || link_services(&ld) < 0) goto failed;
  atomic_init(&ld.s->refs, 1);
  return ld.s;
failed:
  schema_free(ld.s);
  return NULL;
}

void schema_free(schema *s) {
  if (s == NULL) return;
  for (size_t i = 0; i < s->n_sets; i++)
    google__protobuf__file_descriptor_set__free_unpacked(s->sets[i], NULL);
  free(s->sets);
  free(s->files);
  arena_free(s->arena);
  free(s);
}

schema *schema_retain(schema *s) {
  atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
  return s;
}

void schema_release(schema *s) {
  if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) schema_free(s);
}

size_t schema_file_count(const schema *s) { return s->n_files; }

const FileProto *schema_file_at(const schema *s, size_t i) {
  return i < s->n_files ? s->files[i].d : NULL;
}

size_t schema_service_count(const schema *s) { return s->n_services; }

const schema_service *schema_service_at(const schema *s, size_t i) {
  return i < s->n_services ? &s->services[i] : NULL;
}

uint64_t schema_serial(const schema *s) { return s->serial; }

size_t schema_method_count(const schema *s) { return s->n_methods; }

size_t schema_message_count(const schema *s) { return s->n_messages; }

const schema_message *schema_message_at(const schema *s, size_t i) {
  return i < s->n_messages ? &s->messages[i].pub : NULL;
}

size_t schema_enum_count(const schema *s) { return s->n_enums; }

const schema_enum *schema_enum_at(const schema *s, size_t i) {
  return i < s->n_enums ? &s->enums[i].pub : NULL;
}

/* Full names may be given with protoc's leading dot. */
static const void *find_named(const name_index *ix, const char *full_name) {
  if (full_name[0] == '.') full_name++;
  return index_find(ix, full_name, strlen(full_name));
}

const schema_service *schema_find_service(const schema *s, const char *full_name) {
  return find_named(&s->service_ix, full_name);
}

const schema_method *schema_find_method(const schema *s, const char *path, size_t len) {
  return index_find(&s->method_ix, path, len);
}

const schema_message *schema_find_message(const schema *s, const char *full_name) {
  return find_named(&s->message_ix, full_name);
}

const schema_enum *schema_find_enum(const schema *s, const char *full_name) {
  return find_named(&s->enum_ix, full_name);
}

const schema_field *schema_field_by_number(const schema_message *pub, uint32_t number) {
  const message *m = (const message *)pub;
  size_t lo = 0, hi = pub->n_fields;
  if (m->by_number != NULL) return number < m->n_by_number ? m->by_number[number] : NULL;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    uint32_t k = pub->fields[mid].number;
    if (k == number) return &pub->fields[mid];
    if (k < number) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

/* A message of a few fields: comparing their names costs less than hashing one. */
#define SCAN_FIELDS 4

const schema_field *schema_field_by_name(const schema_message *m, const char *name, size_t len) {
  if (m->n_fields > SCAN_FIELDS) return index_find(&((const message *)m)->by_name, name, len);
  for (size_t i = 0; i < m->n_fields; i++)
    if (m->fields[i].name_len == len && memcmp(m->fields[i].name, name, len) == 0) return &m->fields[i];
  return NULL;
}

const schema_field *schema_field_by_json_name(const schema_message *pub, const char *name,
                                             size_t len) {
  const message *m = (const message *)pub;
  const char *const *p = index_find(&m->by_json_name, name, len);
  return p == NULL ? NULL : &pub->fields[p - (const char *const *)m->by_json_name.base];
}

const schema_enum_value *schema_enum_value_by_name(const schema_enum *e, const char *name,
                                                   size_t len) {
  return index_find(&((const enum_type *)e)->by_name, name, len);
}

const schema_enum_value *schema_enum_value_by_number(const schema_enum *pub, int32_t number) {
  const enum_type *e = (const enum_type *)pub;
  size_t lo = 0, hi = e->n_numbers;
  if (e->dense) return number >= 0 && (size_t)number < pub->n_values ? &pub->values[number] : NULL;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int32_t k = e->by_number[mid]->number;
    if (k == number) return e->by_number[mid];
    if (k < number) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

const char *method_kind_name(method_kind k) {
  switch (k) {
    case METHOD_UNARY: return "unary";
    case METHOD_SERVER_STREAMING: return "server streaming";
    case METHOD_CLIENT_STREAMING: return "client streaming";
    case METHOD_BIDI_STREAMING: return "bidi streaming";
  }
  return "unknown";
}

/* }====================================================== */
