/*
 * exec_seccomp.c: the seccomp filter of a sandboxed command (libseccomp).
 * Everything is allowed but what would let the command escape its
 * namespaces, blind or change the proxy's view of it, or borrow another
 * process's identity; those calls fail with EPERM (io_uring and clone3 with
 * ENOSYS, so that libraries fall back to the calls the filter can inspect).
 * Syscalls of another ABI (i386, x32) kill the process: their numbers would
 * get around the table.
 *
 *   other processes    ptrace, process_vm_readv/writev, pidfd_getfd (the
 *                      socket take-back), kcmp, process_madvise
 *   namespaces         setns; unshare and clone with any CLONE_NEW* flag
 *   mounts             mount, umount2, pivot_root, the new mount API
 *   kernel             bpf, perf_event_open, kexec_*, *_module, iopl,
 *                      ioperm, swapon/off, reboot, acct, quotactl, syslog,
 *                      userfaultfd, open_by_handle_at
 *   keys               keyctl, add_key, request_key
 *   sockets            AF_PACKET, and SOCK_RAW / SOCK_PACKET of AF_INET and
 *                      AF_INET6 (netlink stays: `ip addr` reads)
 *   terminal           ioctl TIOCSTI (typing into the caller's shell),
 *                      TIOCLINUX
 */
#include "cli/exec_confine.h"

#include <errno.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const int denied[] = {
    SCMP_SYS(ptrace),
    SCMP_SYS(process_vm_readv),
    SCMP_SYS(process_vm_writev),
    SCMP_SYS(pidfd_getfd),
    SCMP_SYS(kcmp),
    SCMP_SYS(process_madvise),
    SCMP_SYS(setns),
    SCMP_SYS(mount),
    SCMP_SYS(umount2),
    SCMP_SYS(pivot_root),
    SCMP_SYS(open_tree),
    SCMP_SYS(move_mount),
    SCMP_SYS(fsopen),
    SCMP_SYS(fsconfig),
    SCMP_SYS(fsmount),
    SCMP_SYS(fspick),
    SCMP_SYS(mount_setattr),
    SCMP_SYS(bpf),
    SCMP_SYS(perf_event_open),
    SCMP_SYS(kexec_load),
    SCMP_SYS(kexec_file_load),
    SCMP_SYS(init_module),
    SCMP_SYS(finit_module),
    SCMP_SYS(delete_module),
    SCMP_SYS(iopl),
    SCMP_SYS(ioperm),
    SCMP_SYS(swapon),
    SCMP_SYS(swapoff),
    SCMP_SYS(reboot),
    SCMP_SYS(acct),
    SCMP_SYS(quotactl),
    SCMP_SYS(syslog),
    SCMP_SYS(userfaultfd),
    SCMP_SYS(open_by_handle_at),
    SCMP_SYS(keyctl),
    SCMP_SYS(add_key),
    SCMP_SYS(request_key),
};

static const int unsupported[] = {
    SCMP_SYS(clone3),
    SCMP_SYS(io_uring_setup),
    SCMP_SYS(io_uring_enter),
    SCMP_SYS(io_uring_register),
};

static const unsigned long ns_flags[] = {
    CLONE_NEWNS,  CLONE_NEWPID, CLONE_NEWNET,    CLONE_NEWUSER,
    CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWCGROUP, CLONE_NEWTIME,
};

/* A rule with one masked-equal comparison of argument arg. */
static int deny_masked(scmp_filter_ctx ctx, int nr, unsigned arg, uint64_t mask, uint64_t value)
{
    struct scmp_arg_cmp c = {arg, SCMP_CMP_MASKED_EQ, mask, value};
    return seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, &c);
}

/* socket(family, SOCK_RAW or SOCK_PACKET, ...), the type without
 * SOCK_NONBLOCK / SOCK_CLOEXEC. */
static int deny_raw(scmp_filter_ctx ctx, int family)
{
    int rc = 0;
    for (int t = 0; rc == 0 && t < 2; t++) {
        struct scmp_arg_cmp c[2] = {{0, SCMP_CMP_EQ, (uint64_t)family, 0},
                                    {1, SCMP_CMP_MASKED_EQ, 0xf, t ? SOCK_PACKET : SOCK_RAW}};
        rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 2, c);
    }
    return rc;
}

static int add_rules(scmp_filter_ctx ctx)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof denied / sizeof *denied; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), denied[i], 0);
    for (size_t i = 0; rc == 0 && i < sizeof unsupported / sizeof *unsupported; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), unsupported[i], 0);
    for (size_t i = 0; rc == 0 && i < sizeof ns_flags / sizeof *ns_flags; i++) {
        rc = deny_masked(ctx, SCMP_SYS(unshare), 0, ns_flags[i], ns_flags[i]);
        if (rc == 0) /* clone(flags, ...) on x86_64 and arm64 */
            rc = deny_masked(ctx, SCMP_SYS(clone), 0, ns_flags[i], ns_flags[i]);
    }
    if (rc == 0)
        rc = deny_masked(ctx, SCMP_SYS(socket), 0, 0xffffffffu, AF_PACKET);
    for (size_t i = 0; rc == 0 && i < 2; i++) /* netlink's SOCK_RAW stays (ip addr show) */
        rc = deny_raw(ctx, i ? AF_INET6 : AF_INET);
    if (rc == 0)
        rc = deny_masked(ctx, SCMP_SYS(ioctl), 1, 0xffffffffu, TIOCSTI);
    if (rc == 0)
        rc = deny_masked(ctx, SCMP_SYS(ioctl), 1, 0xffffffffu, TIOCLINUX);
    return rc;
}

int cli__exec_seccomp(char *err, size_t errlen)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) {
        snprintf(err, errlen, "seccomp: cannot make a filter");
        return -ENOMEM;
    }
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc == 0)
        rc = add_rules(ctx);
    if (rc == 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc != 0)
        snprintf(err, errlen, "seccomp: cannot load the filter: %s", strerror(-rc));
    return rc;
}
