/* The release number and the git commit the binary was built from (the Makefile generates the
 * definition of memlab_git_commit at every build). */
#ifndef MEMLAB_VERSION_H
#define MEMLAB_VERSION_H

#define MEMLAB_VERSION "0.1.0"

extern const char *memlab_git_commit;

#endif
