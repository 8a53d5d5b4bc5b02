/*
** schema.h
** Descriptor sets (protoc --descriptor_set_out) turned into immutable tables of
** services, methods, messages, fields and enums. Built once, then shared
** read-only by every worker thread.
*/
#ifndef schema_h
#define schema_h

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct schema schema;
typedef struct schema_message schema_message;
typedef struct schema_enum schema_enum;
typedef struct schema_service schema_service;

/* Wire-level kind of a field: the values of FieldDescriptorProto.Type. */
typedef enum field_type {
  FIELD_DOUBLE = 1, FIELD_FLOAT = 2, FIELD_INT64 = 3, FIELD_UINT64 = 4,
  FIELD_INT32 = 5, FIELD_FIXED64 = 6, FIELD_FIXED32 = 7, FIELD_BOOL = 8,
  FIELD_STRING = 9, FIELD_GROUP = 10, FIELD_MESSAGE = 11, FIELD_BYTES = 12,
  FIELD_UINT32 = 13, FIELD_ENUM = 14, FIELD_SFIXED32 = 15, FIELD_SFIXED64 = 16,
  FIELD_SINT32 = 17, FIELD_SINT64 = 18
} field_type;

typedef enum field_label {
  LABEL_OPTIONAL = 1, LABEL_REQUIRED = 2, LABEL_REPEATED = 3
} field_label;

typedef struct schema_enum_value {
  const char *name;
  int32_t number;
} schema_enum_value;

struct schema_enum {
  const char *full_name;            /* "pkg.Outer.Color" */
  const schema_enum_value *values;  /* in declaration order: values[0] is the default */
  size_t n_values;
  bool closed;                      /* proto2: unknown numbers are not values */
};

typedef struct schema_field {
  const char *name;                 /* as written in the .proto */
  size_t name_len;
  const char *json_name;            /* lowerCamelCase, or as [json_name = ...] says: the proto3 JSON name */
  uint32_t number;
  field_type type;
  field_label label;
  bool packed;                      /* repeated scalars are written packed */
  bool has_presence;                /* unset reads nil: proto2 optional, proto3 `optional`, oneof members */
  int oneof;                        /* index into the message's oneofs, or -1 */
  const schema_message *message;    /* FIELD_MESSAGE, FIELD_GROUP: its type; a map's entry type */
  const schema_enum *enum_type;     /* FIELD_ENUM */
  bool is_map;                      /* repeated entry message with map_entry set */
  const char *default_value;        /* proto2 [default = ...] as protoc writes it, or NULL */
  uint32_t id;                      /* dense over the schema's fields, 0 .. n - 1: the codec's caches */
} schema_field;

struct schema_message {
  const char *full_name;            /* "pkg.Outer.Inner" */
  const schema_field *fields;       /* sorted by number */
  size_t n_fields;
  const char *const *oneofs;        /* oneof names, real (non-synthetic) ones first */
  size_t n_oneofs;                  /* real oneofs only: a proto3 `optional` field has oneof -1 */
  bool proto3;
  bool map_entry;                   /* fields[0] is the key, fields[1] the value */
  /* Counted at load time for the codec: */
  size_t n_required;                /* proto2 required fields */
  size_t n_implicit;                /* fields a decoded table always holds: repeated, maps, scalars without presence */
  uint64_t serial;                  /* of its schema: no two schemas of a process share one */
};

typedef enum method_kind {
  METHOD_UNARY,
  METHOD_SERVER_STREAMING,
  METHOD_CLIENT_STREAMING,
  METHOD_BIDI_STREAMING
} method_kind;

typedef struct schema_method {
  const char *path;                 /* "/pkg.Service/Method", as on the wire */
  const char *name;                 /* "Method" */
  const schema_service *service;
  const schema_message *input;
  const schema_message *output;
  method_kind kind;
  size_t index;                     /* dense over the whole schema: 0 .. schema_method_count()-1 */
} schema_method;

struct schema_service {
  const char *full_name;            /* "pkg.Service" */
  const char *name;                 /* "Service" */
  const schema_method *methods;
  size_t n_methods;
};

/*
** Loads descriptor sets. Each path is a FileDescriptorSet file, or a directory
** whose *.pb and *.protoset files are all loaded. A file that appears in several
** sets (the google/protobuf files, say) is taken once. Returns NULL with a
** one-line reason naming the file in err.
*/
schema *schema_load(const char *const *paths, size_t n_paths, char *err, size_t errlen);
/* The same, after a descriptor set already in memory (the host's built-in one), whose files come first. */
schema *schema_load_with(const void *set, size_t size, const char *const *paths, size_t n_paths,
                         char *err, size_t errlen);
void schema_free(schema *s);

/* The files of the schema (FileDescriptorProtos), for server reflection. */
struct Google__Protobuf__FileDescriptorProto;
size_t schema_file_count(const schema *s);
const struct Google__Protobuf__FileDescriptorProto *schema_file_at(const schema *s, size_t i);

/*
** A loaded schema has one reference; every Lua state built on it takes one
** more. Release, from any thread, frees it with the last reference.
*/
schema *schema_retain(schema *s);
void schema_release(schema *s);

/* The schema's serial: no two schemas of a process have the same, whatever their addresses. */
uint64_t schema_serial(const schema *s);

size_t schema_service_count(const schema *s);
const schema_service *schema_service_at(const schema *s, size_t i);
size_t schema_method_count(const schema *s);
/* Messages (nested ones after their parent, map entries included) and enums, in file order. */
size_t schema_message_count(const schema *s);
const schema_message *schema_message_at(const schema *s, size_t i);
size_t schema_enum_count(const schema *s);
const schema_enum *schema_enum_at(const schema *s, size_t i);

const schema_service *schema_find_service(const schema *s, const char *full_name);
/* path need not be NUL-terminated: it comes straight from a grpc_slice. */
const schema_method *schema_find_method(const schema *s, const char *path, size_t len);
const schema_message *schema_find_message(const schema *s, const char *full_name);
const schema_enum *schema_find_enum(const schema *s, const char *full_name);

/* Field of m with that number, or NULL. */
const schema_field *schema_field_by_number(const schema_message *m, uint32_t number);
/* Field of m with that name, or NULL. name need not be NUL-terminated. */
const schema_field *schema_field_by_name(const schema_message *m, const char *name, size_t len);
/* Field of m with that JSON name (schema_field.json_name), or NULL. */
const schema_field *schema_field_by_json_name(const schema_message *m, const char *name, size_t len);

/* Value of e with that name, or NULL. name need not be NUL-terminated. */
const schema_enum_value *schema_enum_value_by_name(const schema_enum *e, const char *name, size_t len);
/* The first declared value of e with that number, or NULL. */
const schema_enum_value *schema_enum_value_by_number(const schema_enum *e, int32_t number);

const char *method_kind_name(method_kind k);

/* The client sends one request, not a stream (unary, server streaming). */
static inline bool method_one_request(const schema_method *m) {
  return m->kind == METHOD_UNARY || m->kind == METHOD_SERVER_STREAMING;
}

/* The server sends one reply, not a stream (unary, client streaming). */
static inline bool method_one_reply(const schema_method *m) {
  return m->kind == METHOD_UNARY || m->kind == METHOD_CLIENT_STREAMING;
}

#endif
