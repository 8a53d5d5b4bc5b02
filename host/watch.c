/*
** watch.c
** Editors save in many ways (write in place, write a copy and rename, delete
** and create), so directories are watched, not files, and every kind of
** change to a *.lua or a protoset in them counts.
*/
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "watch.h"

#define EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | \
                IN_DELETE_SELF | IN_MOVE_SELF)

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void add_dir(watch *w, const char *path) {
  int wd = inotify_add_watch(w->fd, path, EVENTS);
  if (wd < 0) {
    log_line(LOG_WARN, "a directory is not watched: its edits need SIGHUP", "dir", path, "error",
             strerror(errno), NULL);
    return;
  }
  for (size_t i = 0; i < w->n_dirs; i++)
    if (w->dirs[i].wd == wd) return;
  if (w->n_dirs == w->cap_dirs) {
    size_t cap = w->cap_dirs ? w->cap_dirs * 2 : 16;
    watched_dir *dirs = realloc(w->dirs, cap * sizeof *dirs);
    if (dirs != NULL) {
      w->dirs = dirs;
      w->cap_dirs = cap;
    }
  }
  char *copy = w->n_dirs < w->cap_dirs ? strdup(path) : NULL;
  if (copy == NULL) {
    log_line(LOG_WARN, "a directory is not watched: out of memory", "dir", path, NULL);
    inotify_rm_watch(w->fd, wd);
    return;
  }
  w->dirs[w->n_dirs].wd = wd;
  w->dirs[w->n_dirs++].path = copy;
}

/* The scripts directory and every directory below it. */
static void add_tree(watch *w, const char *path) {
  add_dir(w, path);
  DIR *d = opendir(path);
  if (d == NULL) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char sub[PATH_MAX];
    if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= (int)sizeof sub) continue;
    if (is_dir(sub)) add_tree(w, sub);
  }
  closedir(d);
}

/* The directory a protoset lives in, or the protoset directory itself. */
static void add_protoset(watch *w, const char *path) {
  if (is_dir(path)) {
    add_dir(w, path);
    return;
  }
  char dir[PATH_MAX];
  fs_dir_of(path, dir, sizeof dir);
  add_dir(w, dir);
}

int watch_open(watch *w, const config *cfg, char *err, size_t errlen) {
  memset(w, 0, sizeof *w);
  w->cfg = cfg;
  w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (w->fd < 0) {
    snprintf(err, errlen, "inotify: %s", strerror(errno));
    return -1;
  }
  add_tree(w, cfg->scripts_dir);
  for (size_t i = 0; i < cfg->n_protosets; i++) add_protoset(w, cfg->protosets[i]);
  return 0;
}

void watch_close(watch *w) {
  if (w->fd >= 0) close(w->fd);
  for (size_t i = 0; i < w->n_dirs; i++) free(w->dirs[i].path);
  free(w->dirs);
  w->dirs = NULL;
  w->fd = -1;
  w->n_dirs = w->cap_dirs = 0;
}

static const char *dir_of(const watch *w, int wd) {
  for (size_t i = 0; i < w->n_dirs; i++)
    if (w->dirs[i].wd == wd) return w->dirs[i].path;
  return NULL;
}

/* Whether path is one of the protosets given, or a protoset in a protoset directory. */
static int is_protoset(const watch *w, const char *dir, const char *path) {
  for (size_t i = 0; i < w->cfg->n_protosets; i++) {
    const char *p = w->cfg->protosets[i];
    if (strcmp(p, path) == 0) return 1;
    if (strcmp(p, dir) == 0 && (ends_with(path, ".pb") || ends_with(path, ".protoset"))) return 1;
  }
  return 0;
}

/* Whether the event matters; a new directory below the scripts is watched too. */
static int on_event(watch *w, const struct inotify_event *ev, char *changed, size_t size) {
  const char *dir = dir_of(w, ev->wd);
  if (dir == NULL || ev->len == 0 || ev->name[0] == '.') return 0;
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/%s", dir, ev->name) >= (int)sizeof path) return 0;
  if ((ev->mask & IN_ISDIR) && strncmp(dir, w->cfg->scripts_dir, strlen(w->cfg->scripts_dir)) == 0) {
    if (ev->mask & (IN_CREATE | IN_MOVED_TO)) add_tree(w, path);
    log_append(changed, size, path);
    return 1;
  }
  if (!ends_with(ev->name, ".lua") && !is_protoset(w, dir, path)) return 0;
  log_append(changed, size, path);
  return 1;
}

int watch_read(watch *w, char *changed, size_t size) {
  char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
  int mattered = 0;
  for (;;) {
    ssize_t n = read(w->fd, buf, sizeof buf);
    if (n <= 0) break;
    for (char *p = buf; p < buf + n;) {
      const struct inotify_event *ev = (const struct inotify_event *)p;
      mattered += on_event(w, ev, changed, size);
      p += sizeof *ev + ev->len;
    }
  }
  return mattered;
}
