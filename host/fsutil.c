/*
** fsutil.c
** Reading a file whole, and the directory of a path.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"

char *fs_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  struct stat st;
  char *data = NULL;
  if (fstat(fileno(f), &st) != 0) goto done;
  if (!S_ISREG(st.st_mode)) {
    errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    goto done;
  }
  data = malloc((size_t)st.st_size + 1);
  if (data == NULL) goto done;
  if (fread(data, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
    free(data);
    data = NULL;
    errno = EIO;
    goto done;
  }
  data[st.st_size] = '\0';
  *len = (size_t)st.st_size;
done:
  fclose(f);
  return data;
}

void fs_dir_of(const char *path, char *out, size_t size) {
  snprintf(out, size, "%s", path);
  char *slash = strrchr(out, '/');
  if (slash == NULL) snprintf(out, size, ".");
  else if (slash == out) slash[1] = '\0';
  else *slash = '\0';
}
