/* SPDX-License-Identifier: MIT */
/*
 * The control socket's request parsing (control.c): top-level JSON field
 * extraction and the command lookup, apart from the commands so that the
 * fuzzer (tests/fuzz/l0-control) runs the same code without a VM.
 */
#ifndef L0_CONTROL_PARSE_H
#define L0_CONTROL_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* The commands, in the order of l0_control_names. */
enum l0_control_cmd {
	L0_CMD_STATUS,
	L0_CMD_PAUSE,
	L0_CMD_RESUME,
	L0_CMD_QUIT,
	L0_CMD_DIRTY_START,
	L0_CMD_DIRTY,
	L0_CMD_DIRTY_STOP,
	L0_CMD_KVM_STATS,
	L0_CMD_DEVICES,
	L0_CMD_COUNT
};

/* What l0_control_lookup returns when there is no command to run. */
#define L0_CONTROL_NO_CMD  (-1)  /* no "cmd": "word" field */
#define L0_CONTROL_UNKNOWN (-2)  /* a word that names no command */

extern const char *const l0_control_names[L0_CMD_COUNT];

/* Where the value of the first top-level-looking "key": starts, or NULL. */
const char *l0_json_find_key(const char *json, const char *key);
/* Copies a plain string value ([A-Za-z0-9_.-] only) into out. */
bool l0_json_get_word(const char *json, const char *key, char *out, size_t size);
/* An "id": integer. */
bool l0_json_get_id(const char *json, long long *id);
/* The command a request line names: an enum l0_control_cmd, or one of
 * L0_CONTROL_NO_CMD, L0_CONTROL_UNKNOWN. */
int l0_control_lookup(const char *request);

#endif
