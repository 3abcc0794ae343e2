// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: ooh-l0's control-socket request parsing
 * (l0/control-parse.c: the JSON-lines field extraction and the command
 * lookup that l0_control_reply runs on each line). The input is one
 * client line as serve_client hands it over: cut at the first newline,
 * at most L0_CONTROL_LINE_MAX - 1 bytes. Checked after each input: a
 * found value lies inside the line, a word fits its buffer (sized from
 * the input, so ASan sees an overrun) and has only [A-Za-z0-9_.-], and the
 * lookup agrees with the "cmd" word.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "control-parse.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void check_word(const char *line, const char *key, size_t size)
{
	char *out = malloc(size);
	size_t len;

	CHECK(out);
	if (l0_json_get_word(line, key, out, size)) {
		len = strlen(out);
		CHECK(len < size);
		for (size_t i = 0; i < len; i++)
			CHECK(isalnum((unsigned char)out[i]) || strchr("_-.", out[i]));
		CHECK(strstr(line, out));
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t len = nl ? (size_t)(nl - data) : size;
	char *line, word[32];
	const char *p;
	long long id;
	int cmd;

	if (len > L0_CONTROL_LINE_MAX - 1)
		len = L0_CONTROL_LINE_MAX - 1;
	line = malloc(len + 1); /* exact size: ASan sees a read past the NUL */
	CHECK(line);
	memcpy(line, data, len);
	line[len] = '\0';

	(void)l0_json_get_id(line, &id);
	cmd = l0_control_lookup(line);
	CHECK(cmd == L0_CONTROL_NO_CMD || cmd == L0_CONTROL_UNKNOWN || (cmd >= 0 && cmd < L0_CMD_COUNT));
	CHECK(l0_json_get_word(line, "cmd", word, sizeof(word)) == (cmd != L0_CONTROL_NO_CMD));
	if (cmd >= 0)
		CHECK(strcmp(word, l0_control_names[cmd]) == 0);
	for (int k = 0; k < 3; k++) {
		static const char *const keys[] = { "cmd", "id", "" };

		p = l0_json_find_key(line, keys[k]);
		CHECK(!p || (p >= line && p <= line + strlen(line)));
	}
	/* small buffers, sized by the first byte */
	check_word(line, "cmd", len ? (size_t)(data[0] & 7) + 1 : 1);
	free(line);
	return 0;
}
