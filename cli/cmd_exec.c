/*
 * cmd_exec.c: `tollgate sandbox exec --name NAME [--user USER] [--env K=V]...
 * [--cwd DIR] [--tty] -- CMD [ARG]...`: runs CMD inside the sandbox, where
 * its only way out is the sandbox's proxy and it has no privilege.
 *
 * The gateway builds the network namespace (POST .../attach) and checks its
 * rules. Then three processes:
 *
 *   this one    (root, host namespaces) unshares a pid namespace for its
 *               children, records PROC:LAUNCH / PROC:TERMINATE, forwards
 *               SIGTERM/SIGHUP, returns the command's exit status
 *   its child   pid 1 of the new pid namespace: joins the sandbox's cgroup
 *               (the attach reply's "cgroup", root-owned: what its proxy
 *               scans to name callers, proxy/ident.c), enters the network
 *               namespace, takes a mount namespace of its own (exec_confine.c:
 *               resolv.conf, /proc, the gateway's state and /run/netns
 *               hidden), drops to the sandbox user with no capability,
 *               no_new_privs and the seccomp filter (exec_seccomp.c), forks
 *               the command, forwards signals to it, reaps orphans, exits
 *               with its status (the namespace dies with it)
 *   the command inherits all that; chdir (as the user), reports its pid
 *               (SCM_CREDENTIALS: the kernel translates it into this
 *               process's pid namespace), waits until PROC:LAUNCH is
 *               recorded, then execs with a clean environment (PATH, HOME of
 *               the user, TERM, LANG, the proxy variables and --env only)
 *
 * stdin, stdout, stderr and the terminal are inherited; the exit status is
 * the command's (128 + N for a signal N; 127 command not found, 126 not
 * executable, 1 when it could not be confined: one line says why, and
 * nothing runs).
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <linux/magic.h>

#include "cli/cli.h"
#include "cli/exec_confine.h"
#include "gateway/gateway.h"

#define MAX_ENV      64
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

extern char **environ;

typedef struct {
    const char *gateway, *state, *name, *cwd, *user;
    const char *env[MAX_ENV];
    size_t nenv;
    bool tty;
    char **cmd; /* NULL-terminated */
} exec_args_t;

/* What the child and the command tell this process when they fail. */
typedef struct {
    int code; /* the exit status to return */
    char msg[480];
} child_err_t;

/* The child's and the command's side of the pipes. */
typedef struct {
    int netns, ctl, go, err;
    int cgroup; /* the sandbox's cgroup.procs, open for writing; -1: none */
} child_fds_t;

/* What the child sets up (borrowed from this process's memory). */
typedef struct {
    const char *resolv;  /* the sandbox's resolv.conf */
    const char *ca_pem;  /* the CA intercepted tunnels present; NULL: none */
    const char *hide[2]; /* the gateway's and this client's state directories */
    const cli__exec_user_t *user;
    char **env;
} setup_t;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tollgate sandbox exec --name NAME [--user USER] [--env K=V]... [--cwd DIR]\n"
            "                             [--tty] [--gateway URL] [--state DIR] -- CMD [ARG]...\n\n"
            "Runs CMD in the sandbox: its only way out is the sandbox's proxy\n"
            "(HTTP_PROXY/HTTPS_PROXY are set); other connections are refused and\n"
            "recorded. CMD runs as USER (default: the sandbox's user, else\n" CLI__EXEC_DEFAULT_USER
            ", made when missing), never root, with no capabilities, no_new_privs,\n"
            "a seccomp filter and pid and mount namespaces of its own. Needs root;\n"
            "the gateway must run as root too.\n");
}

static int parse(int argc, char **argv, exec_args_t *a)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(s, "--")) {
            a->cmd = i + 1 < argc ? argv + i + 1 : NULL;
            break;
        } else if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            usage(stdout);
            exit(CLI_EXIT_OK);
        } else if (!strcmp(s, "--name") && more) {
            a->name = argv[++i];
        } else if (!strcmp(s, "--gateway") && more) {
            a->gateway = argv[++i];
        } else if (!strcmp(s, "--state") && more) {
            a->state = argv[++i];
        } else if (!strcmp(s, "--cwd") && more) {
            a->cwd = argv[++i];
        } else if (!strcmp(s, "--user") && more && argv[i + 1][0]) {
            a->user = argv[++i];
        } else if (!strcmp(s, "--tty")) {
            a->tty = true;
        } else if (!strcmp(s, "--env") && more && a->nenv < MAX_ENV - 12 &&
                   strchr(argv[i + 1], '=') && argv[i + 1][0] != '=') {
            a->env[a->nenv++] = argv[++i];
        } else if (s[0] != '-' && !a->name && i == 1) {
            a->name = s; /* `sandbox exec NAME -- ...` */
        } else {
            cli_err_escaped("tollgate sandbox exec: unknown or incomplete option: ", s, strlen(s));
            return -1;
        }
    }
    return a->name && a->cmd ? 0 : -1;
}

/* Root, or the capabilities setns and mount need. */
static bool privileged(void)
{
    if (geteuid() == 0)
        return true;
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0)
        return false;
    return (d[0].effective & (1u << CAP_SYS_ADMIN)) != 0;
}

/* PATH search as execvp would; "" if none. */
static void resolve(const char *cmd, const char *path, char *out, size_t n)
{
    out[0] = '\0';
    if (strchr(cmd, '/')) {
        if (!realpath(cmd, out))
            snprintf(out, n, "%s", cmd);
        return;
    }
    for (const char *p = path; *p;) {
        size_t len = strcspn(p, ":");
        char cand[4096];
        snprintf(cand, sizeof cand, "%.*s/%s", (int)len, len ? p : ".", cmd);
        struct stat st;
        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
            if (!realpath(cand, out))
                snprintf(out, n, "%s", cand);
            return;
        }
        p += len + (p[len] == ':');
    }
}

static json_t *argv_json(char **v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

/* method path with body (NULL: none); 0 when the gateway answered 200. */
static int call(const cli_client_t *c, const char *method, const char *path, json_t *body,
                json_t **out)
{
    char *b = body ? json_dumps(body, JSON_COMPACT) : NULL;
    ocsf_buf_t resp;
    long status = 0;
    ocsf_buf_init(&resp);
    int rc = body && !b ? -1
                        : cli_request(c, method, path, b ? "application/json" : NULL, b,
                                      b ? strlen(b) : 0, 120, &status, &resp);
    free(b);
    if (rc == 0 && status != 200) {
        cli_print_error("sandbox exec", status, &resp);
        rc = -1;
    }
    if (rc == 0 && out) {
        json_error_t e;
        *out = json_loads(resp.p ? resp.p : "", 0, &e);
        rc = *out ? 0 : -1;
    }
    ocsf_buf_dispose(&resp);
    return rc;
}

/* ---- the environment ----------------------------------------------------------------- */

static bool overridden(const exec_args_t *a, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; i < a->nenv; i++)
        if (strncmp(a->env[i], key, n) == 0 && a->env[i][n] == '=')
            return true;
    return false;
}

static void build_env(const exec_args_t *a, const char *proxy, const cli__exec_user_t *u, bool ca,
                      char **env, char *buf, size_t buflen)
{
    size_t n = 0, o = 0;
    const char *keep[] = {"TERM", "LANG"};
#define ADD(key, ...)                                                                              \
    do {                                                                                           \
        int w_ = overridden(a, key) ? -1 : snprintf(buf + o, buflen - o, __VA_ARGS__);             \
        if (w_ > 0 && (size_t)w_ < buflen - o) {                                                   \
            env[n++] = buf + o;                                                                    \
            o += (size_t)w_ + 1;                                                                   \
        }                                                                                          \
    } while (0)
    ADD("PATH", "PATH=%s", DEFAULT_PATH); /* the caller's may name dirs the user cannot use */
    ADD("HOME", "HOME=%s", u->home);
    ADD("USER", "USER=%s", u->name);
    ADD("LOGNAME", "LOGNAME=%s", u->name);
    for (size_t i = 0; i < 2; i++)
        if (getenv(keep[i]))
            ADD(keep[i], "%s=%s", keep[i], getenv(keep[i]));
    ADD("HTTP_PROXY", "HTTP_PROXY=%s", proxy);
    ADD("HTTPS_PROXY", "HTTPS_PROXY=%s", proxy);
    ADD("http_proxy", "http_proxy=%s", proxy);
    ADD("https_proxy", "https_proxy=%s", proxy);
    ADD("NO_PROXY", "NO_PROXY=127.0.0.1,localhost,::1");
    ADD("no_proxy", "no_proxy=127.0.0.1,localhost,::1");
    ADD("TOLLGATE_SANDBOX", "TOLLGATE_SANDBOX=%s", a->name);
    /* the CA of intercepted tunnels, where common clients look (exec_confine.c) */
    const char *bundle = ca ? CLI__EXEC_CA_DIR "/bundle.pem" : NULL;
    if (bundle) {
        const char *keys[] = {"SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE",
                              "GIT_SSL_CAINFO"};
        for (size_t i = 0; i < 4; i++)
            ADD(keys[i], "%s=%s", keys[i], bundle);
        ADD("NODE_EXTRA_CA_CERTS", "NODE_EXTRA_CA_CERTS=%s", CLI__EXEC_CA_DIR "/sandbox-ca.pem");
    }
    for (size_t i = 0; i < a->nenv; i++)
        env[n++] = (char *)a->env[i];
#undef ADD
    env[n] = NULL;
}

/* ---- the child (pid 1 of the sandbox's pid namespace) and the command ---------------- */

static void child_fail(int fd, int code, const char *msg)
{
    child_err_t ce = {code, ""};
    snprintf(ce.msg, sizeof ce.msg, "%s", msg);
    if (write(fd, &ce, sizeof ce) < 0)
        _exit(code);
    _exit(code);
}

/* The command: chdir as the user, report the pid, wait for the launch event,
 * exec. Never returns. */
static void command(const exec_args_t *a, char **env, const child_fds_t *f)
{
    char msg[480], b;
    signal(SIGINT, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    if (a->cwd && chdir(a->cwd) != 0) {
        snprintf(msg, sizeof msg, "--cwd %.300s: %s (as the sandbox user)", a->cwd,
                 strerror(errno));
        child_fail(f->err, 1, msg);
    }
    if (send(f->ctl, "p", 1, 0) != 1 || read(f->go, &b, 1) != 1)
        _exit(1); /* this process could not record the launch */
    close(f->ctl);
    close(f->go);
    environ = env;
    execvp(a->cmd[0], a->cmd);
    int e = errno;
    snprintf(msg, sizeof msg, "exec: %s: ", e == ENOENT ? "command not found" : strerror(e));
    child_fail(f->err, e == ENOENT || e == ENOTDIR ? 127 : 126, msg);
}

static volatile sig_atomic_t command_pid;

static void forward(int sig)
{
    if (command_pid > 0)
        kill(command_pid, sig);
}

/* Waits for the command, reaping everything else; its exit status. */
static int init_wait(pid_t pid)
{
    for (;;) {
        int st;
        pid_t w = waitpid(-1, &st, 0);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return 1;
        if (w == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
}

/* In the child: namespaces, mounts, the drop and the filter; 0 or -errno
 * with step and err. */
static int confine(const setup_t *s, int netns, const char **step, char *err, size_t errlen)
{
    *step = "enter the sandbox's network namespace";
    if (setns(netns, CLONE_NEWNET) != 0 ||
        (*step = "make a mount namespace", unshare(CLONE_NEWNS) != 0)) {
        snprintf(err, errlen, "%s", strerror(errno));
        return -errno;
    }
    int rc = (*step = "mounts", cli__exec_mounts(s->resolv, s->hide, 2, err, errlen));
    if (rc == 0 && s->ca_pem)
        rc = (*step = "the CA bundle", cli__exec_ca_files(s->ca_pem, err, errlen));
    if (rc == 0)
        rc = (*step = "drop privileges", cli__exec_drop(s->user, err, errlen));
    if (rc == 0)
        rc = (*step = "seccomp", cli__exec_seccomp(err, errlen));
    return rc;
}

static void child(const exec_args_t *a, const setup_t *s, const child_fds_t *f)
{
    char err[400], msg[480];
    /* into the sandbox's cgroup before anything else: every process of the
     * sandbox is born there ("0" is the writer) */
    if (f->cgroup >= 0 && write(f->cgroup, "0\n", 2) != 2) {
        snprintf(msg, sizeof msg, "cannot join the sandbox's cgroup: %s", strerror(errno));
        child_fail(f->err, 1, msg);
    }
    if (f->cgroup >= 0)
        close(f->cgroup);
    signal(SIGINT, SIG_IGN); /* the terminal's signals reach the command directly */
    signal(SIGQUIT, SIG_IGN);
    const char *step;
    if (confine(s, f->netns, &step, err, sizeof err) != 0) {
        snprintf(msg, sizeof msg, "cannot confine the command (%s): %s", step, err);
        child_fail(f->err, 1, msg);
    }
    close(f->netns);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* this process goes: the sandbox goes */
    struct sigaction sa = {.sa_handler = forward};
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaction(sigs[i], &sa, NULL);
    pid_t pid = fork();
    if (pid == 0)
        command(a, s->env, f);
    if (pid < 0)
        child_fail(f->err, 1, "fork the command failed");
    command_pid = pid;
    close(f->ctl);
    close(f->go);
    close(f->err);
    _exit(init_wait(pid));
}

/* ---- this process -------------------------------------------------------------------- */

static volatile sig_atomic_t child_pid;

static void forward_child(int sig)
{
    if (child_pid > 0)
        kill(child_pid, sig);
}

static int process_event(const cli_client_t *c, const exec_args_t *a, char **argv, const char *path,
                         pid_t pid, const cli__exec_user_t *u, const char *what, int code)
{
    char self[4096], url[256];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    struct passwd *me = getpwuid(getuid()); /* the real uid: who ran sudo tollgate ... */
    json_t *o =
        json_pack("{s:s,s:I,s:o,s:s,s:{s:I,s:s,s:o,s:{s:I,s:s}},s:{s:I,s:s}}", "activity", what,
                  "pid", (json_int_t)pid, "argv", argv_json(a->cmd), "path", path, "actor", "pid",
                  (json_int_t)getpid(), "path", self, "argv", argv_json(argv), "user", "uid",
                  (json_int_t)getuid(), "name", me ? me->pw_name : "", "user", "uid",
                  (json_int_t)u->uid, "name", u->name);
    if (strcmp(what, "terminate") == 0)
        json_object_set_new(o, "exit_code", json_integer(code));
    snprintf(url, sizeof url, "/v1/sandboxes/%s/process", a->name);
    int rc = call(c, "POST", url, o, NULL);
    json_decref(o);
    return rc;
}

/* The command's pid in this pid namespace (SCM_CREDENTIALS), or 0 when the
 * child failed before forking it. */
static pid_t command_started(int ctl)
{
    char b;
    union {
        char buf[CMSG_SPACE(sizeof(struct ucred))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {&b, 1};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t r;
    while ((r = recvmsg(ctl, &m, 0)) < 0 && errno == EINTR)
        ;
    struct cmsghdr *cm = r == 1 ? CMSG_FIRSTHDR(&m) : NULL;
    if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_CREDENTIALS)
        return 0;
    struct ucred cr;
    memcpy(&cr, CMSG_DATA(cm), sizeof cr);
    return cr.pid;
}

/* Prints what the child or the command said when it failed. */
static void report_failure(int errfd, const char *cmd)
{
    child_err_t ce;
    if (read(errfd, &ce, sizeof ce) != (ssize_t)sizeof ce)
        return;
    ce.msg[sizeof ce.msg - 1] = '\0';
    char prefix[520];
    snprintf(prefix, sizeof prefix, "tollgate sandbox exec: %s", ce.msg);
    if (strncmp(ce.msg, "exec: ", 6) == 0)
        cli_err_escaped(prefix, cmd, strlen(cmd));
    else
        cli_err_escaped(prefix, "", 0);
}

static int wait_child(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return CLI_EXIT_FAIL;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The pipes and the pid namespace; the fork. The child's pid, or -1. */
static pid_t start(const exec_args_t *a, const char *nspath, int cgroup, const setup_t *s,
                   char *token, size_t tokenlen, int mine[3])
{
    int sp[2], go[2], ep[2], one = 1;
    child_fds_t f = {open(nspath, O_RDONLY | O_CLOEXEC), -1, -1, -1, cgroup};
    if (f.netns < 0) {
        fprintf(stderr, "tollgate sandbox exec: open %s: %s\n", nspath, strerror(errno));
        return -1;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0 ||
        setsockopt(sp[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0 ||
        pipe2(go, O_CLOEXEC) != 0 || pipe2(ep, O_CLOEXEC) != 0) {
        perror("tollgate sandbox exec: pipe");
        return -1;
    }
    f.ctl = sp[1], f.go = go[0], f.err = ep[1];
    fflush(NULL);
    /* fork into a new pid namespace: clone(2) rather than unshare(2), which
     * would put every later child of this process there too (and fail them
     * once the namespace's init is gone) */
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid < 0) {
        fprintf(stderr,
                "tollgate sandbox exec: cannot make a pid namespace (%s): the command "
                "cannot be confined, so it does not run\n",
                strerror(errno));
        close(f.netns);
        return -1;
    }
    if (pid == 0) {
        close(sp[0]);
        close(go[1]);
        close(ep[0]);
        explicit_bzero(token, tokenlen); /* nothing of the gateway's secret stays in the sandbox */
        clearenv(); /* the command's environment is env; this one may hold TOLLGATE_TOKEN */
        child(a, s, &f);
    }
    close(f.netns);
    close(sp[1]);
    close(go[0]);
    close(ep[1]);
    mine[0] = sp[0], mine[1] = go[1], mine[2] = ep[0];
    return pid;
}

/* The sandbox's cgroup.procs (the attach reply's "cgroup"), open for
 * writing, or -1 when the gateway has none: then the proxy names callers by
 * the scan of every process (slower, the same answers). A path that is not
 * a root-owned directory of the cgroup v2 tree is refused. */
static int cgroup_open(const char *dir, char *err, size_t errlen)
{
    struct statfs f;
    struct stat st;
    char path[512];
    if (!dir)
        return -1;
    if (strncmp(dir, "/sys/fs/cgroup/", 15) != 0 || strstr(dir, "/..") ||
        snprintf(path, sizeof path, "%s/cgroup.procs", dir) >= (int)sizeof path ||
        statfs(dir, &f) != 0 || f.f_type != CGROUP2_SUPER_MAGIC || lstat(dir, &st) != 0 ||
        !S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022)) {
        snprintf(err, errlen, "the gateway's cgroup %.150s is not a root-owned cgroup v2 directory",
                 dir);
        return -2;
    }
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(err, errlen, "open %.150s: %s", path, strerror(errno));
        return -2;
    }
    return fd;
}

/* Runs the command to its end; the exit status tollgate returns. */
static int run(cli_client_t *c, const exec_args_t *a, char **argv, json_t *net,
               const cli__exec_user_t *u)
{
    const char *proxy = json_string_value(json_object_get(net, "proxy"));
    const char *nspath = json_string_value(json_object_get(net, "netns_path"));
    static char envbuf[1 << 16];
    char *env[MAX_ENV + 24], path[4096], state[4096], err[256];
    setup_t s = {json_string_value(json_object_get(net, "resolv_conf")),
                 json_string_value(json_object_get(net, "ca_pem")),
                 {json_string_value(json_object_get(net, "state_dir")), NULL},
                 u,
                 env};
    if (!nspath || !proxy || !s.resolv) {
        fprintf(stderr, "tollgate sandbox exec: the gateway's attach reply lacks netns_path\n");
        return CLI_EXIT_FAIL;
    }
    if (gw_state_dir(a->state, state, sizeof state, err, sizeof err) == 0)
        s.hide[1] = state;
    build_env(a, proxy, u, s.ca_pem != NULL, env, envbuf, sizeof envbuf);
    resolve(a->cmd[0], DEFAULT_PATH, path, sizeof path);
    signal(SIGINT, SIG_IGN); /* the terminal's signals are the command's */
    signal(SIGQUIT, SIG_IGN);
    signal(SIGTERM, forward_child);
    signal(SIGHUP, forward_child);
    int fds[3];
    int cg = cgroup_open(json_string_value(json_object_get(net, "cgroup")), err, sizeof err);
    if (cg == -2) {
        fprintf(stderr, "tollgate sandbox exec: %s\n", err);
        return CLI_EXIT_FAIL;
    }
    pid_t pid = start(a, nspath, cg, &s, c->token, sizeof c->token, fds);
    if (cg >= 0)
        close(cg);
    if (pid < 0)
        return CLI_EXIT_FAIL;
    child_pid = pid;
    pid_t cmd_pid = command_started(fds[0]);
    bool launched = cmd_pid > 0 && process_event(c, a, argv, path[0] ? path : a->cmd[0], cmd_pid, u,
                                                 "launch", 0) == 0;
    if (launched && write(fds[1], "g", 1) != 1)
        launched = false;
    close(fds[1]);
    close(fds[0]);
    report_failure(fds[2], a->cmd[0]);
    close(fds[2]);
    int code = wait_child(pid);
    if (launched)
        process_event(c, a, argv, path[0] ? path : a->cmd[0], cmd_pid, u, "terminate", code);
    return launched ? code : CLI_EXIT_FAIL;
}

/* The user: --user, else the sandbox's own setting, else the default. */
static int pick_user(const cli_client_t *c, const exec_args_t *a, cli__exec_user_t *u)
{
    char url[256], err[400];
    const char *spec = a->user;
    json_t *sb = NULL;
    snprintf(url, sizeof url, "/v1/sandboxes/%.100s", a->name);
    if (!spec && call(c, "GET", url, NULL, &sb) != 0)
        return -1;
    if (!spec)
        spec = json_string_value(json_object_get(sb, "user"));
    int rc = cli__exec_user(spec, u, err, sizeof err);
    json_decref(sb);
    if (rc != 0)
        cli_err_escaped("tollgate sandbox exec: ", err, strlen(err));
    return rc;
}

int cli_sandbox_exec(int argc, char **argv)
{
    exec_args_t a = {0};
    char err[400];
    if (parse(argc, argv, &a) != 0) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!privileged()) {
        fprintf(stderr, "tollgate sandbox exec: needs root (CAP_SYS_ADMIN to enter the "
                        "sandbox's network namespace): run it with sudo\n");
        return CLI_EXIT_FAIL;
    }
    if (cli__exec_kernel_check(err, sizeof err) != 0) {
        fprintf(stderr, "tollgate sandbox exec: %s\n", err);
        return CLI_EXIT_FAIL;
    }
    cli_client_t c;
    cli__exec_user_t u;
    if (cli_client_init(&c, a.gateway, a.state) != 0 || pick_user(&c, &a, &u) != 0)
        return CLI_EXIT_FAIL;
    char url[256];
    snprintf(url, sizeof url, "/v1/sandboxes/%.100s/attach", a.name);
    json_t *body = json_object(), *net = NULL;
    int rc = call(&c, "POST", url, body, &net);
    json_decref(body);
    if (rc != 0)
        return CLI_EXIT_FAIL;
    rc = run(&c, &a, argv, net, &u);
    json_decref(net);
    return rc;
}
