/*
 * exec_confine.c: the user, the mounts and the privilege drop of a
 * sandboxed command (the contract is in exec_confine.h).
 */
#include "cli/exec_confine.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- the user ------------------------------------------------------------------------ */

static int fill_user(const struct passwd *pw, cli__exec_user_t *u, char *err, size_t errlen)
{
    struct stat st;
    if (pw->pw_uid == 0 || pw->pw_gid == 0) {
        snprintf(err, errlen, "user '%.64s' has uid or gid 0: sandboxed commands never run as root",
                 pw->pw_name);
        return -EPERM;
    }
    u->uid = pw->pw_uid;
    u->gid = pw->pw_gid;
    snprintf(u->name, sizeof u->name, "%s", pw->pw_name);
    bool home = pw->pw_dir && pw->pw_dir[0] == '/' && strlen(pw->pw_dir) < sizeof u->home &&
                stat(pw->pw_dir, &st) == 0 && S_ISDIR(st.st_mode);
    snprintf(u->home, sizeof u->home, "%s", home ? pw->pw_dir : "/");
    return 0;
}

static const char *useradd_path(void)
{
    return access("/usr/sbin/useradd", X_OK) == 0 ? "/usr/sbin/useradd" : "/sbin/useradd";
}

/* useradd for the default user; 0 when it ran and exited 0. */
static int make_default_user(char *err, size_t errlen)
{
    const char *argv[] = {"useradd",
                          "--system",
                          "--user-group",
                          "--no-create-home",
                          "--home-dir",
                          "/nonexistent",
                          "--shell",
                          "/usr/sbin/nologin",
                          "--comment",
                          "tollgate sandboxed commands",
                          CLI__EXEC_DEFAULT_USER,
                          NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, useradd_path(), &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    int st = 0;
    if (rc == 0)
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
    if (rc != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        snprintf(err, errlen,
                 "the default sandbox user '%s' does not exist and useradd could not make it "
                 "(%s): create it, or pass --user NAME",
                 CLI__EXEC_DEFAULT_USER, rc ? strerror(rc) : "it failed");
        return -ENOENT;
    }
    return 0;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

int cli__exec_user(const char *spec, cli__exec_user_t *u, char *err, size_t errlen)
{
    struct passwd *pw;
    if (spec == NULL || spec[0] == '\0') {
        pw = getpwnam(CLI__EXEC_DEFAULT_USER);
        /* a concurrent exec may make it first: look again after a failure */
        if (!pw && make_default_user(err, errlen) != 0 && !getpwnam(CLI__EXEC_DEFAULT_USER))
            return -ENOENT;
        pw = getpwnam(CLI__EXEC_DEFAULT_USER);
    } else if (all_digits(spec)) {
        errno = 0;
        unsigned long v = strtoul(spec, NULL, 10);
        pw = v < 0x7fffffffUL ? getpwuid((uid_t)v) : NULL;
    } else {
        pw = strlen(spec) < 64 ? getpwnam(spec) : NULL;
    }
    if (!pw) {
        snprintf(err, errlen, "--user %.64s: no such user", spec ? spec : CLI__EXEC_DEFAULT_USER);
        return -ENOENT;
    }
    return fill_user(pw, u, err, errlen);
}

int cli__exec_kernel_check(char *err, size_t errlen)
{
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0 && errno == EINVAL) {
        snprintf(err, errlen,
                 "this kernel has no seccomp (CONFIG_SECCOMP): sandboxed commands "
                 "cannot be confined, so none is run");
        return -ENOSYS;
    }
    if (access("/proc/self/ns/pid", F_OK) != 0 || access("/proc/self/ns/mnt", F_OK) != 0) {
        snprintf(err, errlen,
                 "this kernel has no pid or mount namespaces: sandboxed commands "
                 "cannot be confined, so none is run");
        return -ENOSYS;
    }
    return 0;
}

/* ---- mounts -------------------------------------------------------------------------- */

static int failed(char *err, size_t errlen, const char *what, const char *path)
{
    int e = errno;
    snprintf(err, errlen, "%s %.300s: %s", what, path, strerror(e));
    return -e;
}

/* An empty read-only tmpfs over dir, mode 000: nothing to list or open. */
static int cover(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return 0; /* nothing there to hide */
    if (mount("tollgate-hidden", dir, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=4k,nr_inodes=2,mode=000") != 0)
        return failed(err, errlen, "hide", dir);
    return 0;
}

int cli__exec_mounts(const char *resolv, const char *const *hide, size_t nhide, char *err,
                     size_t errlen)
{
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return failed(err, errlen, "make the mounts private:", "/");
    if (mount(resolv, "/etc/resolv.conf", NULL, MS_BIND, NULL) != 0)
        return failed(err, errlen, "mount the sandbox's resolv.conf", resolv);
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        return failed(err, errlen, "mount a /proc of the sandbox's own", "/proc");
    static const char *const always[] = {"/run/netns", "/etc/netns"};
    for (size_t i = 0; i < sizeof always / sizeof *always; i++)
        if (cover(always[i], err, errlen) != 0)
            return -EPERM;
    for (size_t i = 0; i < nhide; i++)
        if (hide[i] && hide[i][0] == '/' && hide[i][1] && cover(hide[i], err, errlen) != 0)
            return -EPERM;
    return 0;
}

/* ---- the CA bundle ------------------------------------------------------------------- */

#define SYSTEM_STORE "/etc/ssl/certs/ca-certificates.crt"

/* Writes n bytes of p (and of the file at copy, first, when not NULL) to
 * dir/name, mode 0444. */
static int write_pem(const char *name, const char *copy, const char *p, size_t n, char *err,
                     size_t errlen)
{
    char path[256], buf[8192];
    snprintf(path, sizeof path, "%s/%s", CLI__EXEC_CA_DIR, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
    if (fd < 0)
        return failed(err, errlen, "write", path);
    int in = copy ? open(copy, O_RDONLY | O_CLOEXEC) : -1;
    bool ok = true;
    for (ssize_t r; in >= 0 && ok && (r = read(in, buf, sizeof buf)) > 0;)
        ok = write(fd, buf, (size_t)r) == r;
    if (in >= 0)
        close(in);
    ok = ok && write(fd, p, n) == (ssize_t)n;
    if (close(fd) != 0 || !ok)
        return failed(err, errlen, "write", path);
    return 0;
}

int cli__exec_ca_files(const char *ca_pem, char *err, size_t errlen)
{
    struct stat st;
    if (mkdir(CLI__EXEC_CA_DIR, 0755) != 0 && errno != EEXIST)
        return failed(err, errlen, "mkdir", CLI__EXEC_CA_DIR);
    if (lstat(CLI__EXEC_CA_DIR, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: not a directory", CLI__EXEC_CA_DIR);
        return -ENOTDIR;
    }
    if (mount("tollgate-ca", CLI__EXEC_CA_DIR, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=4m,mode=0755") != 0)
        return failed(err, errlen, "mount a tmpfs on", CLI__EXEC_CA_DIR);
    size_t n = strlen(ca_pem);
    bool store = access(SYSTEM_STORE, R_OK) == 0;
    int rc = write_pem("sandbox-ca.pem", NULL, ca_pem, n, err, errlen);
    if (rc == 0)
        rc = write_pem("bundle.pem", store ? SYSTEM_STORE : NULL, ca_pem, n, err, errlen);
    if (rc == 0 && mount(NULL, CLI__EXEC_CA_DIR, NULL,
                         MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        return failed(err, errlen, "make read-only:", CLI__EXEC_CA_DIR);
    return rc;
}

/* ---- privileges ---------------------------------------------------------------------- */

static int caps_get(struct __user_cap_data_struct d[2])
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    return (int)syscall(SYS_capget, &h, d);
}

static int caps_clear(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    return (int)syscall(SYS_capset, &h, d);
}

int cli__exec_drop(const cli__exec_user_t *u, char *err, size_t errlen)
{
    int cap;
    for (cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
            return failed(err, errlen, "drop from the bounding set: capability", "");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        return failed(err, errlen, "clear the ambient capabilities", "");
    if (setgroups(1, &u->gid) != 0 || setresgid(u->gid, u->gid, u->gid) != 0)
        return failed(err, errlen, "set the group of user", u->name);
    if (setresuid(u->uid, u->uid, u->uid) != 0)
        return failed(err, errlen, "become user", u->name);
    struct __user_cap_data_struct d[2];
    if (caps_clear() != 0 || caps_get(d) != 0)
        return failed(err, errlen, "clear the capabilities of user", u->name);
    for (int i = 0; i < 2; i++)
        if (d[i].effective || d[i].permitted || d[i].inheritable) {
            snprintf(err, errlen, "capabilities left after becoming %s", u->name);
            return -EPERM;
        }
    if (getuid() == 0 || geteuid() == 0 || setresuid(0, 0, 0) == 0) {
        snprintf(err, errlen, "still root after becoming %s: refusing to run", u->name);
        return -EPERM;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return failed(err, errlen, "set no_new_privs for", u->name);
    return 0;
}
