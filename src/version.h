/* The one place the version is written; the Makefile, the host and the module read it. */
#ifndef RIVULET_VERSION_H
#define RIVULET_VERSION_H
#define RIVULET_VERSION "0.1.0"
#endif
