/*
** codegen.c
** --scaffold and --types: the user's protosets (not the host's built-in
** services) loaded as the host loads them, and the Lua text written to stdout.
*/
#include <stdio.h>

#include "codegen.h"
#include "luatypes.h"
#include "scaffold.h"
#include "schema.h"

int codegen_main(const config *cfg) {
  char err[1024];
  schema *s = schema_load(cfg->protosets, cfg->n_protosets, err, sizeof err);
  if (s == NULL) {
    fprintf(stderr, "host: %s\n", err);
    return 1;
  }
  int rc = 0;
  if (cfg->scaffold != NULL) rc = scaffold_write(stdout, s, cfg->scaffold, err, sizeof err);
  else luatypes_write(stdout, s);
  schema_release(s);
  if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
    snprintf(err, sizeof err, "cannot write to standard output");
    rc = -1;
  }
  if (rc != 0) fprintf(stderr, "host: %s\n", err);
  return rc != 0;
}
