/*
** fsutil.h
** The few file-system chores that several files share.
** Errors: -1 or NULL with errno set, as the C library does.
*/
#ifndef fsutil_h
#define fsutil_h

#include <stddef.h>

/*
** The whole of a regular file, NUL-terminated (the NUL is not counted in
** *len), in memory the caller frees. NULL with errno set; EISDIR or EINVAL
** for what is not a regular file.
*/
char *fs_read_file(const char *path, size_t *len);

/* The directory part of path into out: "." for a bare name, "/" for a file at the root. */
void fs_dir_of(const char *path, char *out, size_t size);

#endif
