/*
 * agentex/version.h - the single source of libagentex's version.
 *
 * The Makefile and pkgconfig/agentex.pc read these macros, so the library file
 * name, the soname and the .pc file can never disagree with the header.
 *
 * ABI rule: while MAJOR is 0, every MINOR release may break the ABI and the
 * soname is libagentex.so.0.MINOR.  From 1.0 on the soname is libagentex.so.MAJOR
 * and MAJOR changes only when the ABI breaks.
 */
#ifndef AGENTEX_VERSION_H
#define AGENTEX_VERSION_H

#define AGENTEX_VERSION_MAJOR 0
#define AGENTEX_VERSION_MINOR 1
#define AGENTEX_VERSION_PATCH 0
#define AGENTEX_VERSION_STRING "0.1.0"
/* 0xMMmmpp */
#define AGENTEX_VERSION_NUM                                                                        \
    ((AGENTEX_VERSION_MAJOR << 16) | (AGENTEX_VERSION_MINOR << 8) | AGENTEX_VERSION_PATCH)

#endif
