/* ctl.h: the control socket ternctl talks to (AF_UNIX, one command line
 * in, one reply line out: "ok" or "error <why>"). Commands are registered
 * by name; the socket knows nothing of what they do. */
#ifndef TERN_CTL_H
#define TERN_CTL_H

#include <stddef.h>

/* argv[0] is the command; reply gets "ok" or "error ..." (no newline). */
typedef void (*ctl_fn)(int argc, char **argv, char *reply, size_t len);

void ctl_register(const char *name, ctl_fn fn);
int ctl_open(const char *path, char *err, size_t errlen);
void ctl_close(void);

#endif
