// SPDX-License-Identifier: MIT
/*
 * Control socket request parsing: tiny JSON field extraction (top-level
 * "key": "string" or number) and the command lookup. Clients are
 * untrusted: parsing never reads past the line's NUL.
 */
#include "control-parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const l0_control_names[L0_CMD_COUNT] = {
	[L0_CMD_STATUS] = "status",
	[L0_CMD_PAUSE] = "pause",
	[L0_CMD_RESUME] = "resume",
	[L0_CMD_QUIT] = "quit",
	[L0_CMD_DIRTY_START] = "dirty-start",
	[L0_CMD_DIRTY] = "dirty",
	[L0_CMD_DIRTY_STOP] = "dirty-stop",
	[L0_CMD_KVM_STATS] = "kvm-stats",
	[L0_CMD_DEVICES] = "devices",
};

const char *l0_json_find_key(const char *json, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = strchr(json, '"'); p; p = strchr(p + 1, '"')) {
		if (strncmp(p + 1, key, klen) == 0 && p[1 + klen] == '"') {
			p += 2 + klen;
			while (isspace((unsigned char)*p))
				p++;
			if (*p == '\0') /* "key" ends the line: the loop's p + 1 would pass the NUL */
				break;
			if (*p != ':')
				continue;
			p++;
			while (isspace((unsigned char)*p))
				p++;
			return p;
		}
	}
	return NULL;
}

bool l0_json_get_word(const char *json, const char *key, char *out, size_t size)
{
	const char *p = l0_json_find_key(json, key);
	size_t n = 0;

	if (!p || *p != '"')
		return false;
	for (p++; *p && *p != '"'; p++) {
		if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.') || n + 1 >= size)
			return false;
		out[n++] = *p;
	}
	out[n] = '\0';
	return *p == '"';
}

bool l0_json_get_id(const char *json, long long *id)
{
	const char *p = l0_json_find_key(json, "id");
	char *end;

	if (!p || !(isdigit((unsigned char)*p) || *p == '-'))
		return false;
	errno = 0;
	*id = strtoll(p, &end, 10);
	return errno == 0 && end != p;
}

int l0_control_lookup(const char *request)
{
	char cmd[32];

	if (!l0_json_get_word(request, "cmd", cmd, sizeof(cmd)))
		return L0_CONTROL_NO_CMD;
	for (int i = 0; i < L0_CMD_COUNT; i++)
		if (strcmp(cmd, l0_control_names[i]) == 0)
			return i;
	return L0_CONTROL_UNKNOWN;
}
