/*
 * state.c: the gateway's hold on its state directory.
 *
 *   lock    DIR/gateway.lock, flock(LOCK_EX) held for the life of the
 *           process (the kernel drops it when the process dies, however it
 *           dies); the holder's pid is written in it. A second gateway on the
 *           same directory gets "state directory DIR in use by pid N" and
 *           stops before it touches anything (spool, namespaces, links).
 *           Once the API listens, its URL follows the pid (second line):
 *           clients given only the state directory find the gateway there,
 *           and never send that state's token to another address.
 *   owners  DIR, DIR/token and DIR/spool must belong to the running user and
 *           be writable by nobody else (the token readable by nobody else):
 *           otherwise another local user could write the token and use the
 *           API, or edit the spool. Refused by path, with the reason.
 *
 * Blocking (files): the start of the process, before the loop runs.
 */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/gw_internal.h"

int gw__state_lock(const char *dir, char *err, size_t errlen)
{
    char path[4200], pid[32] = "";
    snprintf(path, sizeof path, "%s/gateway.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (e == EWOULDBLOCK)
            snprintf(err, errlen, "state directory %s in use by pid %s", dir,
                     pid[0] ? pid : "(unknown)");
        else
            snprintf(err, errlen, "lock %s: %s", path, strerror(e));
        close(fd);
        return e == EWOULDBLOCK ? -EBUSY : -e;
    }
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        snprintf(err, errlen, "write %s: %s", path, strerror(errno));
        close(fd);
        return -EIO;
    }
    return fd; /* held until the process exits */
}

/* 0 when path (if it exists) is ours and not writable (or, with secret, not
 * accessible at all) by group or others. */
static int owned(const char *path, bool secret, bool must_exist, char *err, size_t errlen)
{
    struct stat st; /* the directory itself may be reached through a link; its files not */
    if ((must_exist ? stat(path, &st) : lstat(path, &st)) != 0) {
        if (errno == ENOENT && !must_exist)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    mode_t bad = secret ? 077 : 022;
    if (S_ISLNK(st.st_mode))
        snprintf(err, errlen, "%s is a symbolic link: refusing it", path);
    else if (st.st_uid != geteuid())
        snprintf(err, errlen, "%s belongs to uid %ld, not to this user (uid %ld): refusing it",
                 path, (long)st.st_uid, (long)geteuid());
    else if (st.st_mode & bad)
        snprintf(err, errlen, "%s has mode %04o: %s by group or others; chmod %s it", path,
                 (unsigned)(st.st_mode & 07777), secret ? "accessible" : "writable",
                 secret ? "600" : "go-w");
    else
        return 0;
    return -EPERM;
}

int gw__state_check(const char *dir, char *err, size_t errlen)
{
    char path[4200];
    int rc = owned(dir, false, true, err, errlen);
    snprintf(path, sizeof path, "%s/token", dir);
    if (rc == 0)
        rc = owned(path, true, false, err, errlen);
    snprintf(path, sizeof path, "%s/spool", dir);
    if (rc == 0)
        rc = owned(path, false, false, err, errlen);
    return rc;
}

int gw__state_note_url(int fd, const char *url)
{
    char text[600];
    int n = snprintf(text, sizeof text, "%ld\n%s\n", (long)getpid(), url);
    if (n <= 0 || (size_t)n >= sizeof text || ftruncate(fd, 0) != 0 ||
        pwrite(fd, text, (size_t)n, 0) != n)
        return -EIO;
    return 0;
}

int gw_state_gateway_url(const char *dir, char *out, size_t n)
{
    char path[4200], text[600];
    snprintf(path, sizeof path, "%s/gateway.lock", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    /* an address someone else could have written would get this user's token */
    struct stat st;
    if (fstat(fd, &st) != 0 || (st.st_uid != geteuid() && st.st_uid != 0) || (st.st_mode & 022)) {
        close(fd);
        return -EPERM;
    }
    ssize_t r = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    text[r > 0 ? r : 0] = '\0';
    /* the file outlives its gateway: only a live holder's address means
     * anything (probing the lock itself could make a starting gateway fail) */
    long pid = strtol(text, NULL, 10);
    bool alive = pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
    char *url = strchr(text, '\n');
    if (!alive || !url || strncmp(url + 1, "http", 4) != 0)
        return -ENOENT;
    url++;
    url[strcspn(url, "\n")] = '\0';
    if (strlen(url) >= n)
        return -ENOSPC;
    memcpy(out, url, strlen(url) + 1);
    return 0;
}
