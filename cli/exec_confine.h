/*
 * exec_confine.h: what `tollgate sandbox exec` does to a command before it
 * runs, so that it has no privilege left (cli/cmd_exec.c runs the steps):
 *
 *   user      a non-root uid/gid: --user, the sandbox's `user`, or the
 *             dedicated `tollgate-sandbox` (made with useradd when missing);
 *             root is refused by name, never a fallback
 *   mounts    in its own mount namespace (private propagation): the
 *             sandbox's resolv.conf over /etc/resolv.conf, a /proc of its own
 *             pid namespace over the host's, and an empty read-only tmpfs
 *             (mode 000) over the gateway's state directory, /run/netns and
 *             /etc/netns
 *   drop      every capability out of the bounding and ambient sets, then
 *             setgroups/setresgid/setresuid, then inheritable/permitted/
 *             effective checked empty, PR_SET_NO_NEW_PRIVS
 *   seccomp   a libseccomp filter (exec_seccomp.c) that refuses, with EPERM,
 *             what would let it escape, blind the proxy or borrow an identity
 *
 * Every function returns 0 or a negative errno with a one-line reason in
 * err; none of them logs. They run in the forked child (no threads), so
 * they use only what is safe there.
 */
#ifndef TOLLGATE_CLI_EXEC_CONFINE_H
#define TOLLGATE_CLI_EXEC_CONFINE_H

#include <stddef.h>
#include <sys/types.h>

#define CLI__EXEC_DEFAULT_USER "tollgate-sandbox"

typedef struct {
    uid_t uid;
    gid_t gid;
    char name[64];
    char home[512]; /* the passwd home when it is a directory, else "/" */
} cli__exec_user_t;

/* Resolves spec (a user name or a numeric uid known to passwd; NULL or ""
 * for the default user, which is created when missing). Refuses root. */
int cli__exec_user(const char *spec, cli__exec_user_t *u, char *err, size_t errlen);

/* Checks, before anything is forked, that the kernel has what confinement
 * needs (seccomp filters); the one line says what is missing. */
int cli__exec_kernel_check(char *err, size_t errlen);

/* The mounts, in the caller's fresh mount namespace, from inside the new
 * pid namespace (for /proc). hide: directories to cover (NULL entries and
 * missing paths are skipped). */
int cli__exec_mounts(const char *resolv, const char *const *hide, size_t nhide, char *err,
                     size_t errlen);

/* The sandbox CA where common clients look: a read-only tmpfs on
 * CLI__EXEC_CA_DIR (made when missing) with sandbox-ca.pem (ca_pem) and
 * bundle.pem (the system store, then the CA), mode 0444. In the command's
 * mount namespace, before the drop. */
#define CLI__EXEC_CA_DIR "/run/tollgate-sandbox"
int cli__exec_ca_files(const char *ca_pem, char *err, size_t errlen);

/* Drops to u for good (see above). */
int cli__exec_drop(const cli__exec_user_t *u, char *err, size_t errlen);

/* Loads the seccomp filter (exec_seccomp.c); after cli__exec_drop. */
int cli__exec_seccomp(char *err, size_t errlen);

#endif
