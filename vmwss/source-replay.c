// SPDX-License-Identifier: MIT
/*
 * Replay source: a recorded series of intervals instead of a VM, so the
 * estimate can be run again (other --window or --tolerance) or tested on
 * a known series. One interval per line, its dirty pages as the first
 * number; further fields (ooh-wss --replay's referenced pages) are
 * ignored, and so are empty lines and lines starting with '#'.
 */
#include <errno.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmwss.h"

struct replay_priv {
	FILE *f;
	const char *path;
	unsigned int line;
};

/* Only a line's first number counts: drop what did not fit in buf. */
static void skip_rest_of_line(FILE *f, const char *buf)
{
	int c;

	if (strchr(buf, '\n'))
		return;
	while ((c = getc(f)) != EOF && c != '\n')
		;
}

static int replay_start(struct vmwss_source *src, char *err, size_t errlen)
{
	(void)src;
	(void)err;
	(void)errlen;
	return 0;
}

static int replay_sample(struct vmwss_source *src, uint64_t *dirty, bool *gone,
			 char *err, size_t errlen)
{
	struct replay_priv *p = src->priv;
	char buf[256], *s, *end;

	*gone = false;
	while (fgets(buf, sizeof(buf), p->f)) {
		p->line++;
		skip_rest_of_line(p->f, buf);
		for (s = buf; isspace((unsigned char)*s); s++)
			;
		if (!*s || *s == '#')
			continue;
		errno = 0;
		*dirty = strtoull(s, &end, 10);
		if (end == s || *s == '-' || errno || (*end && !isspace((unsigned char)*end))) {
			snprintf(err, errlen, "%s:%u: not a page count: %.*s", p->path,
				 p->line, (int)strcspn(s, "\r\n"), s);
			return -EINVAL;
		}
		return 0;
	}
	if (ferror(p->f)) {
		snprintf(err, errlen, "%s: %s", p->path, strerror(errno));
		return -EIO;
	}
	return 1;
}

static void replay_stop(struct vmwss_source *src)
{
	struct replay_priv *p = src->priv;

	fclose(p->f);
	free(p);
	src->priv = NULL;
}

int vmwss_source_replay(struct vmwss_source *src, const char *path,
			char *err, size_t errlen)
{
	struct replay_priv *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->path = path;
	p->f = fopen(path, "re");
	if (!p->f) {
		int e = errno;

		snprintf(err, errlen, "cannot open the recording %s: %s", path, strerror(e));
		free(p);
		return -e;
	}
	*src = (struct vmwss_source){
		.name = "replay",
		.start = replay_start,
		.sample = replay_sample,
		.stop = replay_stop,
		.recorded = true,
		.priv = p,
	};
	return 0;
}
