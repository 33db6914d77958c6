/*
 * cmd_exec.c: `tollgate sandbox exec --name NAME [--env K=V]... [--cwd DIR]
 * [--tty] -- CMD [ARG]...`: runs CMD inside the sandbox's network namespace,
 * where its only way out is the sandbox's proxy.
 *
 * The gateway builds the namespace (POST .../attach); this process forks, the
 * child enters the namespace (setns), takes a private mount namespace with the
 * sandbox's resolv.conf over /etc/resolv.conf, gets a clean environment
 * (PATH, HOME, TERM, LANG, the proxy variables and --env only: nothing of the
 * caller's leaks in), waits until PROC:LAUNCH is recorded, then execs.
 * stdin, stdout, stderr and the terminal are inherited; the exit status is
 * the command's (128 + N for a signal N; 127 command not found, 126 not
 * executable). PROC:TERMINATE carries it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"

#define MAX_ENV      64
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

extern char **environ;

typedef struct {
    const char *gateway, *state, *name, *cwd;
    const char *env[MAX_ENV];
    size_t nenv;
    bool tty;
    char **cmd; /* NULL-terminated */
} exec_args_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: tollgate sandbox exec --name NAME [--env K=V]... [--cwd DIR] [--tty]\n"
               "                             [--gateway URL] [--state DIR] -- CMD [ARG]...\n\n"
               "Runs CMD in the sandbox's network namespace: its only way out is the\n"
               "sandbox's proxy (HTTP_PROXY/HTTPS_PROXY are set); other connections are\n"
               "refused and recorded. Needs root; the gateway must run as root too.\n");
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

/* PATH search as execvp would, from `dir` for relative names; "" if none. */
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

/* POST body to path; 0 when the gateway answered `want`. */
static int post(const cli_client_t *c, const char *what, const char *path, json_t *body,
                json_t **out)
{
    char *b = json_dumps(body, JSON_COMPACT);
    ocsf_buf_t resp;
    long status = 0;
    ocsf_buf_init(&resp);
    int rc = b ? cli_request(c, "POST", path, "application/json", b, strlen(b), 120, &status, &resp)
               : -1;
    free(b);
    if (rc == 0 && status != 200) {
        cli_print_error(what, status, &resp);
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

/* ---- the child ----------------------------------------------------------------------- */

typedef struct {
    int step; /* 0 exec, 1 setns, 2 mount namespace, 3 resolv.conf, 4 cwd */
    int err;
} child_err_t;

static void build_env(const exec_args_t *a, const char *proxy, char **env, char *buf, size_t buflen)
{
    size_t n = 0, o = 0;
    const char *keep[] = {"HOME", "TERM", "LANG"};
#define ADD(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(buf + o, buflen - o, __VA_ARGS__);                                       \
        if (w_ > 0 && (size_t)w_ < buflen - o) {                                                   \
            env[n++] = buf + o;                                                                    \
            o += (size_t)w_ + 1;                                                                   \
        }                                                                                          \
    } while (0)
    ADD("PATH=%s", getenv("PATH") ? getenv("PATH") : DEFAULT_PATH);
    for (size_t i = 0; i < 3; i++)
        if (getenv(keep[i]))
            ADD("%s=%s", keep[i], getenv(keep[i]));
    ADD("HTTP_PROXY=%s", proxy);
    ADD("HTTPS_PROXY=%s", proxy);
    ADD("http_proxy=%s", proxy);
    ADD("https_proxy=%s", proxy);
    ADD("NO_PROXY=127.0.0.1,localhost,::1");
    ADD("no_proxy=127.0.0.1,localhost,::1");
    ADD("TOLLGATE_SANDBOX=%s", a->name);
    for (size_t i = 0; i < a->nenv; i++)
        env[n++] = (char *)a->env[i];
#undef ADD
    env[n] = NULL;
}

static void child(const exec_args_t *a, int nsfd, const char *resolv, char **env, int go, int errfd)
{
    child_err_t ce = {1, 0};
    char b;
    signal(SIGINT, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    if (setns(nsfd, CLONE_NEWNET) != 0 ||
        (ce.step = 2,
         unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0) ||
        (ce.step = 3, mount(resolv, "/etc/resolv.conf", NULL, MS_BIND, NULL) != 0) ||
        (ce.step = 4, a->cwd && chdir(a->cwd) != 0))
        goto fail;
    close(nsfd);
    if (read(go, &b, 1) != 1)
        _exit(1); /* the parent could not record the launch */
    environ = env;
    ce.step = 0;
    execvp(a->cmd[0], a->cmd);
fail:
    ce.err = errno;
    if (write(errfd, &ce, sizeof ce) < 0)
        _exit(1);
    _exit(ce.step == 0 && (ce.err == ENOENT || ce.err == ENOTDIR) ? 127 : ce.step == 0 ? 126 : 1);
}

/* ---- the parent ---------------------------------------------------------------------- */

static volatile sig_atomic_t child_pid;

static void forward(int sig)
{
    if (child_pid > 0)
        kill(child_pid, sig);
}

static int process_event(const cli_client_t *c, const exec_args_t *a, char **argv, const char *path,
                         pid_t pid, const char *what, int code)
{
    char self[4096], url[256];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    json_t *o = json_pack("{s:s,s:I,s:o,s:s,s:{s:I,s:s,s:o}}", "activity", what, "pid",
                          (json_int_t)pid, "argv", argv_json(a->cmd), "path", path, "actor", "pid",
                          (json_int_t)getpid(), "path", self, "argv", argv_json(argv));
    if (strcmp(what, "terminate") == 0)
        json_object_set_new(o, "exit_code", json_integer(code));
    snprintf(url, sizeof url, "/v1/sandboxes/%s/process", a->name);
    int rc = post(c, "sandbox exec", url, o, NULL);
    json_decref(o);
    return rc;
}

static const char *const steps[] = {"exec", "enter the network namespace", "make a mount namespace",
                                    "mount the sandbox's resolv.conf", "chdir"};

/* Runs the child to its end; the exit status tollgate returns. */
static int run(const cli_client_t *c, const exec_args_t *a, char **argv, json_t *net)
{
    const char *nspath = json_string_value(json_object_get(net, "netns_path"));
    const char *resolv = json_string_value(json_object_get(net, "resolv_conf"));
    const char *proxy = json_string_value(json_object_get(net, "proxy"));
    static char envbuf[1 << 16];
    char *env[MAX_ENV + 1], path[4096];
    if (!nspath || !resolv || !proxy) {
        fprintf(stderr, "tollgate sandbox exec: the gateway's attach reply lacks netns_path\n");
        return CLI_EXIT_FAIL;
    }
    build_env(a, proxy, env, envbuf, sizeof envbuf);
    int nsfd = open(nspath, O_RDONLY | O_CLOEXEC), go[2], ep[2];
    if (nsfd < 0) {
        fprintf(stderr, "tollgate sandbox exec: open %s: %s\n", nspath, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    if (pipe2(go, O_CLOEXEC) != 0 || pipe2(ep, O_CLOEXEC) != 0) {
        perror("tollgate sandbox exec: pipe");
        return CLI_EXIT_FAIL;
    }
    resolve(a->cmd[0], getenv("PATH") ? getenv("PATH") : DEFAULT_PATH, path, sizeof path);
    signal(SIGINT, SIG_IGN); /* the terminal's signals are the command's */
    signal(SIGQUIT, SIG_IGN);
    signal(SIGTERM, forward);
    signal(SIGHUP, forward);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(go[1]);
        close(ep[0]);
        child(a, nsfd, resolv, env, go[0], ep[1]);
    }
    close(nsfd);
    close(go[0]);
    close(ep[1]);
    if (pid < 0) {
        perror("tollgate sandbox exec: fork");
        return CLI_EXIT_FAIL;
    }
    child_pid = pid;
    child_err_t ce;
    bool launched = process_event(c, a, argv, path[0] ? path : a->cmd[0], pid, "launch", 0) == 0;
    if (launched && write(go[1], "g", 1) != 1)
        launched = false;
    close(go[1]);
    ssize_t got = read(ep[0], &ce, sizeof ce);
    close(ep[0]);
    int st, code;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (got == (ssize_t)sizeof ce && ce.step >= 0 && ce.step <= 4) {
        char prefix[300];
        snprintf(prefix, sizeof prefix, "tollgate sandbox exec: %s: %s: ", steps[ce.step],
                 ce.step == 0 && ce.err == ENOENT ? "command not found" : strerror(ce.err));
        cli_err_escaped(prefix, a->cmd[0], strlen(a->cmd[0]));
    }
    if (launched)
        process_event(c, a, argv, path[0] ? path : a->cmd[0], pid, "terminate", code);
    return launched ? code : CLI_EXIT_FAIL;
}

int cli_sandbox_exec(int argc, char **argv)
{
    exec_args_t a = {0};
    if (parse(argc, argv, &a) != 0) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!privileged()) {
        fprintf(stderr, "tollgate sandbox exec: needs root (CAP_SYS_ADMIN to enter the "
                        "sandbox's network namespace): run it with sudo\n");
        return CLI_EXIT_FAIL;
    }
    cli_client_t c;
    if (cli_client_init(&c, a.gateway, a.state) != 0)
        return CLI_EXIT_FAIL;
    char url[256];
    snprintf(url, sizeof url, "/v1/sandboxes/%.100s/attach", a.name);
    json_t *body = json_object(), *net = NULL;
    int rc = post(&c, "sandbox exec", url, body, &net);
    json_decref(body);
    if (rc != 0)
        return CLI_EXIT_FAIL;
    rc = run(&c, &a, argv, net);
    json_decref(net);
    return rc;
}
