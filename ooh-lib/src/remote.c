/* SPDX-License-Identifier: MIT */
/*
 * Remote targets.  A userfaultfd always belongs to the mm of the process
 * that created it, so to track another process we make it create one:
 * freeze all its threads with ptrace, run userfaultfd() in its main thread
 * (a two-byte "syscall; int3" patched over its current instruction and put
 * back afterwards), copy the fd into this process with pidfd_getfd(2) and
 * close the target's copy.  Every registration and write-protect ioctl
 * then works on the target's mm from here.  x86-64 only.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

#if defined(__x86_64__)

static bool have_tid(const struct ptrace_freeze *f, pid_t tid)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->tids[i] == tid)
			return true;
	return false;
}

static int wait_stopped(pid_t tid)
{
	int status;
	for (;;) {
		if (waitpid(tid, &status, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (WIFSTOPPED(status))
			return status;
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return -ESRCH;
	}
}

int freeze_target(pid_t pid, struct ptrace_freeze *f)
{
	char path[64];
	bool added = true;
	int err = 0;

	memset(f, 0, sizeof(*f));
	f->pid = pid;
	/* Repeat until no new thread appears: threads may be spawning. */
	while (added && !err) {
		added = false;
		snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
		DIR *d = opendir(path);
		if (!d)
			return errno == ENOENT ? -ESRCH : -errno;
		struct dirent *de;
		while ((de = readdir(d)) && !err) {
			pid_t tid = (pid_t)atoi(de->d_name);
			if (tid <= 0 || have_tid(f, tid))
				continue;
			if (ptrace(PTRACE_SEIZE, tid, 0, 0) < 0) {
				if (errno == ESRCH)
					continue; /* exited meanwhile */
				err = -errno;
				break;
			}
			pid_t *nt = realloc(f->tids, (f->n + 1) * sizeof(*nt));
			if (!nt) {
				ptrace(PTRACE_DETACH, tid, 0, 0);
				err = -ENOMEM;
				break;
			}
			f->tids = nt;
			if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0 || wait_stopped(tid) < 0) {
				/* Exiting (or a zombie): not a thread to freeze. */
				ptrace(PTRACE_DETACH, tid, 0, 0);
				if (tid == pid)
					err = -ESRCH;
				continue;
			}
			f->tids[f->n++] = tid;
			added = true;
		}
		closedir(d);
	}
	if (!err && (f->n == 0 || f->tids[0] != pid) && !have_tid(f, pid))
		err = -ESRCH;
	if (err)
		thaw_target(f);
	return err;
}

void thaw_target(struct ptrace_freeze *f)
{
	for (size_t i = 0; i < f->n; i++)
		ptrace(PTRACE_DETACH, f->tids[i], 0, 0);
	free(f->tids);
	f->tids = NULL;
	f->n = 0;
}

long inject_syscall(struct ptrace_freeze *f, long nr, long a1, long a2, long a3)
{
	pid_t tid = f->pid;
	struct user_regs_struct saved, regs;
	long ret;

	if (ptrace(PTRACE_GETREGS, tid, 0, &saved) < 0)
		return -errno;
	uint64_t at = saved.rip;
	errno = 0;
	long word = ptrace(PTRACE_PEEKTEXT, tid, (void *)at, 0);
	if (errno)
		return -errno;
	/* "syscall" (0f 05) then "int3" (cc) to stop right after it. */
	long patched = (word & ~0xffffffL) | 0xcc050fL;
	if (ptrace(PTRACE_POKETEXT, tid, (void *)at, (void *)patched) < 0)
		return -errno;
	regs = saved;
	regs.rax = (unsigned long)nr;
	regs.rdi = (unsigned long)a1;
	regs.rsi = (unsigned long)a2;
	regs.rdx = (unsigned long)a3;
	regs.rip = at;
	regs.orig_rax = (unsigned long)-1; /* no syscall restart on resume */
	ret = -EIO;
	if (ptrace(PTRACE_SETREGS, tid, 0, &regs) == 0 && ptrace(PTRACE_CONT, tid, 0, 0) == 0) {
		for (;;) {
			int st = wait_stopped(tid);
			if (st < 0) {
				ret = st;
				break;
			}
			if (WSTOPSIG(st) == SIGTRAP && (st >> 16) == 0) {
				if (ptrace(PTRACE_GETREGS, tid, 0, &regs) == 0)
					ret = (long)regs.rax;
				break;
			}
			/* Another stop (signal): keep going; signals stay pending
			 * for the target because we do not consume them. */
			int sig = (st >> 16) ? 0 : WSTOPSIG(st);
			if (ptrace(PTRACE_CONT, tid, 0, (void *)(long)sig) < 0) {
				ret = -errno;
				break;
			}
		}
	}
	ptrace(PTRACE_POKETEXT, tid, (void *)at, (void *)word);
	ptrace(PTRACE_SETREGS, tid, 0, &saved);
	return ret;
}

int remote_userfaultfd(pid_t pid, int uffd_flags)
{
	struct ptrace_freeze f;
	int err = freeze_target(pid, &f);
	if (err)
		return err == -ESRCH ? -ESRCH : (err == -EPERM ? -EPERM : err);

	long rfd = inject_syscall(&f, SYS_userfaultfd, uffd_flags, 0, 0);
	int fd = (int)rfd;
	if (rfd >= 0) {
		int pidfd = pidfd_open_compat(pid);
		fd = pidfd < 0 ? pidfd : (int)syscall(SYS_pidfd_getfd, pidfd, (int)rfd, 0);
		if (pidfd >= 0 && fd < 0)
			fd = -errno;
		if (pidfd >= 0)
			close(pidfd);
		inject_syscall(&f, SYS_close, rfd, 0, 0);
	}
	thaw_target(&f);
	if (fd >= 0) {
		/* pidfd_getfd sets O_CLOEXEC; keep the target's O_NONBLOCK. */
	}
	return fd;
}

#else

int freeze_target(pid_t pid, struct ptrace_freeze *f)
{
	(void)pid;
	memset(f, 0, sizeof(*f));
	return -EOPNOTSUPP;
}

void thaw_target(struct ptrace_freeze *f)
{
	(void)f;
}

long inject_syscall(struct ptrace_freeze *f, long nr, long a1, long a2, long a3)
{
	(void)f; (void)nr; (void)a1; (void)a2; (void)a3;
	return -EOPNOTSUPP;
}

int remote_userfaultfd(pid_t pid, int uffd_flags)
{
	(void)pid; (void)uffd_flags;
	return -EOPNOTSUPP;
}

#endif
