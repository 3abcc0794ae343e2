// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: ooh-vmwss's reading of ooh-l0's control-socket replies
 * (vmwss/source-l0.c: vmwss_l0_start_reply and vmwss_l0_sample_reply, what
 * the l0 source runs on the replies to dirty-start and dirty). The input is
 * one reply as l0_request assembles it: up to the first newline, at most
 * 511 bytes. Both parsers run on it, with an error buffer sized from the
 * first byte (exact allocation: ASan sees an overrun). Checked: 0 or -EIO,
 * and on -EIO a NUL-terminated message.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmwss.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)
#define REPLY_MAX 511 /* l0_start's and l0_sample's reply[512] */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t len = nl ? (size_t)(nl - data) : size;
	size_t errlen = size ? (size_t)data[0] % 300 + 1 : 256;
	char *reply, *err;
	uint64_t value;
	int ret;

	if (len > REPLY_MAX)
		len = REPLY_MAX;
	reply = malloc(len + 1);
	err = malloc(errlen);
	CHECK(reply && err);
	memcpy(reply, data, len);
	reply[len] = '\0';

	ret = vmwss_l0_start_reply(reply, &value, err, errlen);
	CHECK(ret == 0 || ret == -EIO);
	if (ret)
		CHECK(memchr(err, '\0', errlen));
	ret = vmwss_l0_sample_reply(reply, &value, err, errlen);
	CHECK(ret == 0 || ret == -EIO);
	if (ret)
		CHECK(memchr(err, '\0', errlen));
	free(reply);
	free(err);
	return 0;
}
