/* SPDX-License-Identifier: MIT */
#ifndef MEMTIDE_ARRAY_SIZE_H
#define MEMTIDE_ARRAY_SIZE_H

/* Elements of an array (not a pointer: sizeof would lie). */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
