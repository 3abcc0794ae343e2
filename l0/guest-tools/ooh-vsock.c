// SPDX-License-Identifier: MIT
/*
 * ooh-vsock: the two ends of a virtio-vsock check between a guest of
 * ooh-l0 and its host (busybox has no vsock client).
 *
 *   ooh-vsock serve PORT [COUNT]   in the guest: for each connection, read
 *                                  one line and answer "ooh-vsock <line>
 *                                  root=<device of />"; COUNT connections
 *                                  (default: until killed)
 *   ooh-vsock ask CID PORT TEXT [SECONDS]
 *                                  on the host: send TEXT, print the answer;
 *                                  retries the connection for SECONDS
 *                                  (default 30) while the guest starts
 */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr, "usage: ooh-vsock serve PORT [COUNT]\n"
			"       ooh-vsock ask CID PORT TEXT [SECONDS]\n");
	return 2;
}

static int parse_uint(const char *text, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(text, &end, 0);
	return (errno || end == text || *end || *out > max) ? -1 : 0;
}

/* The device mounted on /, from /proc/mounts ("?" if not found). */
static void root_device(char *out, size_t size)
{
	char dev[256], dir[256];
	FILE *f = fopen("/proc/mounts", "r");

	snprintf(out, size, "?");
	if (!f)
		return;
	while (fscanf(f, "%255s %255s %*[^\n]", dev, dir) == 2)
		if (strcmp(dir, "/") == 0)
			snprintf(out, size, "%s", dev); /* the last mount on / wins */
	fclose(f);
}

static int serve(unsigned port, unsigned long count)
{
	struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
				    .svm_port = port };
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, 4)) {
		fprintf(stderr, "ooh-vsock: listen on port %u: %s\n", port, strerror(errno));
		return 1;
	}
	for (unsigned long served = 0; count == 0 || served < count; served++) {
		char line[512], root[256], answer[1024];
		int c = accept(fd, NULL, NULL);
		ssize_t n;

		if (c < 0) {
			fprintf(stderr, "ooh-vsock: accept: %s\n", strerror(errno));
			return 1;
		}
		n = read(c, line, sizeof(line) - 1);
		line[n > 0 ? n : 0] = '\0';
		line[strcspn(line, "\r\n")] = '\0';
		root_device(root, sizeof(root));
		n = snprintf(answer, sizeof(answer), "ooh-vsock %s root=%s\n", line, root);
		if (write(c, answer, (size_t)n) != n)
			fprintf(stderr, "ooh-vsock: answer: %s\n", strerror(errno));
		close(c);
	}
	close(fd);
	return 0;
}

static int ask(unsigned cid, unsigned port, const char *text, unsigned long seconds)
{
	struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
	time_t deadline = time(NULL) + (time_t)seconds;
	char answer[1024];
	size_t used = 0;
	ssize_t n;
	int fd;

	for (;;) {
		fd = socket(AF_VSOCK, SOCK_STREAM, 0);
		if (fd < 0) {
			fprintf(stderr, "ooh-vsock: socket: %s\n", strerror(errno));
			return 1;
		}
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			break;
		if (time(NULL) >= deadline) {
			fprintf(stderr, "ooh-vsock: connect to %u:%u: %s\n", cid, port, strerror(errno));
			return 1;
		}
		close(fd);
		sleep(1); /* the guest's server is not up yet */
	}
	if (dprintf(fd, "%s\n", text) < 0) {
		fprintf(stderr, "ooh-vsock: send: %s\n", strerror(errno));
		return 1;
	}
	while (used < sizeof(answer) - 1 && (n = read(fd, answer + used, sizeof(answer) - 1 - used)) > 0)
		used += (size_t)n;
	close(fd);
	answer[used] = '\0';
	fputs(answer, stdout);
	return used > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	unsigned long cid, port, count = 0, seconds = 30;

	if (argc >= 3 && argc <= 4 && !strcmp(argv[1], "serve")) {
		if (parse_uint(argv[2], UINT32_MAX, &port) || (argc == 4 && parse_uint(argv[3], 1000000, &count)))
			return usage();
		return serve((unsigned)port, count);
	}
	if (argc >= 5 && argc <= 6 && !strcmp(argv[1], "ask")) {
		if (parse_uint(argv[2], UINT32_MAX, &cid) || parse_uint(argv[3], UINT32_MAX, &port) ||
		    (argc == 6 && parse_uint(argv[5], 3600, &seconds)))
			return usage();
		return ask((unsigned)cid, (unsigned)port, argv[4], seconds);
	}
	return usage();
}
