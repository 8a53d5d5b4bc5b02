/*
** scaffold.c
** A handler script for one service, as a new user would write it: one function
** a method, its parameters those of the method's kind, its reply shown as a
** commented-out table of every field at its zero value, and a body that ends
** the call with UNIMPLEMENTED until the user writes it.
*/
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "scaffold.h"

static const char *const lua_keywords[] = {
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
  "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while"};

static bool is_keyword(const char *name) {
  for (size_t i = 0; i < sizeof lua_keywords / sizeof lua_keywords[0]; i++)
    if (strcmp(name, lua_keywords[i]) == 0) return true;
  return false;
}

/* A field's key in a table constructor: `name`, or `["end"]` for a Lua keyword. */
static void put_key(FILE *out, const char *name) {
  fprintf(out, is_keyword(name) ? "[\"%s\"]" : "%s", name);
}

static void put_zero_value(FILE *out, const schema_field *f) {
  if (f->label == LABEL_REPEATED || f->type == FIELD_MESSAGE || f->type == FIELD_GROUP) {
    fputs("{}", out);
    return;
  }
  switch (f->type) {
  case FIELD_STRING: case FIELD_BYTES: fputs("\"\"", out); break;
  case FIELD_BOOL: fputs("false", out); break;
  case FIELD_ENUM:
    if (f->enum_type->n_values > 0) fprintf(out, "\"%s\"", f->enum_type->values[0].name);
    else fputs("0", out);
    break;
  default: fputs("0", out); break;
  }
}

/*
** Message m as a commented-out table constructor after `-- ` + indent + lead
** (`return `, `call:send(`), one field a line; a oneof shows as the choice of its members.
*/
static void put_skeleton(FILE *out, const schema_message *m, const char *indent, const char *lead,
                         const char *tail) {
  if (m->n_fields == 0) {
    fprintf(out, "  -- %s%s{}%s\n", indent, lead, tail);
    return;
  }
  fprintf(out, "  -- %s%s{\n", indent, lead);
  for (size_t i = 0; i < m->n_fields; i++) {
    const schema_field *f = &m->fields[i];
    if (f->oneof >= 0) continue;
    fprintf(out, "  -- %s  ", indent);
    put_key(out, f->name);
    fputs(" = ", out);
    put_zero_value(out, f);
    fputs(",\n", out);
  }
  for (size_t k = 0; k < m->n_oneofs; k++) {
    const char *sep = "";
    fprintf(out, "  -- %s  -- %s: one of ", indent, m->oneofs[k]);
    for (size_t i = 0; i < m->n_fields; i++) {
      if (m->fields[i].oneof != (int)k) continue;
      fprintf(out, "%s%s", sep, m->fields[i].name);
      sep = ", ";
    }
    fputs("\n", out);
  }
  fprintf(out, "  -- %s}%s\n", indent, tail);
}

static const char *const kind_comments[] = {
  [METHOD_UNARY] = "Unary: one request in, one reply out.",
  [METHOD_SERVER_STREAMING] = "Server streaming: one request in; call:send each reply.",
  [METHOD_CLIENT_STREAMING] = "Client streaming: read every request, then return one reply.",
  [METHOD_BIDI_STREAMING] = "Bidirectional streaming: read requests and call:send replies as you go.",
};

static void put_method(FILE *out, const schema_method *m) {
  bool one_request = method_one_request(m), one_reply = method_one_reply(m);
  fprintf(out, "\n-- %s\n", kind_comments[m->kind]);
  if (one_request) fprintf(out, "---@param req %s\n", m->input->full_name);
  fputs("---@param call grpc.Call\n", out);
  if (one_reply) fprintf(out, "---@return %s\n", m->output->full_name);
  fprintf(out, "function M.%s(%s)\n", m->name, one_request ? "req, call" : "call");
  if (!one_request)
    fprintf(out, "  -- for req in call:messages() do   -- req: %s\n", m->input->full_name);
  if (one_reply && !one_request) fputs("  -- end\n", out);
  if (one_reply) put_skeleton(out, m->output, "", "return ", "");
  else put_skeleton(out, m->output, one_request ? "" : "  ", "call:send(", ")");
  if (!one_request && !one_reply) fputs("  -- end\n", out);
  fprintf(out, "  grpc.error(\"UNIMPLEMENTED\", \"not written yet: %s/%s\")\nend\n",
          m->service->full_name, m->name);
}

/* The file name that serves svc without a `service` field: its simple name in lower case. */
static void put_file_name(FILE *out, const schema_service *svc) {
  for (const char *p = svc->name; *p; p++) fputc(tolower((unsigned char)*p), out);
  fputs(".lua", out);
}

static void put_services_known(char *err, size_t errlen, const schema *s) {
  size_t len = strlen(err);
  for (size_t i = 0; i < schema_service_count(s) && len < errlen; i++) {
    snprintf(err + len, errlen - len, "%s%s", i ? ", " : "", schema_service_at(s, i)->full_name);
    len += strlen(err + len);
  }
}

int scaffold_write(FILE *out, const schema *s, const char *full_name, char *err, size_t errlen) {
  const schema_service *svc = schema_find_service(s, full_name);
  if (svc == NULL) {
    snprintf(err, errlen, "--scaffold: no service %s in the protosets; they have: ", full_name);
    if (schema_service_count(s) == 0) snprintf(err, errlen, "--scaffold: the protosets have no service");
    else put_services_known(err, errlen, s);
    return -1;
  }
  fprintf(out, "-- Handlers of %s, as `host --scaffold` wrote them. Save as scripts/", svc->full_name);
  put_file_name(out, svc);
  fputs(";\n-- each method answers UNIMPLEMENTED until its body is written (docs/handlers.md).\n", out);
  fprintf(out, "\nlocal M = { service = \"%s\" }\n", svc->full_name);
  for (size_t i = 0; i < svc->n_methods; i++) put_method(out, &svc->methods[i]);
  fputs("\nreturn M\n", out);
  return 0;
}
