/*
** watch.h
** inotify on the scripts directory (recursively: modules that handlers
** `require` count) and on the protoset files, for hot reload.
*/
#ifndef watch_h
#define watch_h

#include <stddef.h>

#include "config.h"

#define WATCH_MAX_DIRS 256

typedef struct watch {
  int fd;                           /* inotify descriptor, -1 when not watching */
  const config *cfg;
  int wds[WATCH_MAX_DIRS];          /* watch descriptor of each directory */
  char *dirs[WATCH_MAX_DIRS];       /* and its path, owned */
  size_t n_dirs;
} watch;

/* Starts watching cfg's scripts and protosets. -1 with errno-based reason in err. */
int watch_open(watch *w, const config *cfg, char *err, size_t errlen);
void watch_close(watch *w);

/*
** Reads the pending events; appends the paths of changed scripts and protosets
** to changed (comma-separated, truncated to size). Returns how many mattered.
** New subdirectories of the scripts directory are watched from then on.
*/
int watch_read(watch *w, char *changed, size_t size);

#endif
