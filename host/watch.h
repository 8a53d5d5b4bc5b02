/*
** watch.h
** inotify on the scripts directory (recursively: modules that handlers
** `require` count) and on the protoset files, for hot reload.
*/
#ifndef watch_h
#define watch_h

#include <stddef.h>

#include "config.h"

typedef struct watched_dir {
  int wd;                           /* inotify's watch descriptor */
  char *path;                       /* owned */
} watched_dir;

typedef struct watch {
  int fd;                           /* inotify descriptor, -1 when not watching */
  const config *cfg;
  watched_dir *dirs;                /* owned */
  size_t n_dirs, cap_dirs;
} watch;

/*
** Starts watching cfg's scripts and protosets. -1 with errno-based reason in
** err. A directory that cannot be watched is logged and left out.
*/
int watch_open(watch *w, const config *cfg, char *err, size_t errlen);
void watch_close(watch *w);

/*
** Reads the pending events; appends the paths of changed scripts and protosets
** to changed (comma-separated, truncated to size). Returns how many mattered.
** New subdirectories of the scripts directory are watched from then on.
*/
int watch_read(watch *w, char *changed, size_t size);

#endif
