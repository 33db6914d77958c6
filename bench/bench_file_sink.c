/*
 * bench_file_sink.c: throughput of the file sink (exporters/file/) against
 * dd writing the same bytes with the same block size and the same syncing.
 *
 *   bench_file_sink [events [batch [zstd level]]]
 *
 *   events   how many events the sink writes per run (default 1000000)
 *   batch    events per send, each followed by an fdatasync (default 10000)
 *   level    zstd level of the compressed run (default 3, the sink's default)
 *
 * The events are the real OCSF samples (ocsf_samples, ~1.1 KB of JSON on
 * average), each with its own metadata.sequence, time and random
 * metadata.uid (so zstd sees data as varied as real events), encoded
 * before each send, untimed: the times and CPU are of exp_sink_file.send
 * only.
 *
 * The peer is `dd if=/dev/zero of=F bs=<bytes of one batch> count=<batches>
 * oflag=dsync`: one write of a batch's bytes, then the data on disk, per
 * block; that is what the sink does per batch with fsync = batch
 * (pwrite + fdatasync). dd runs before and after the sink runs; the peer is
 * the mean. `conv=fdatasync` (one sync at the end) is printed for
 * information: it syncs 1 time where the sink syncs `batches` times. So is
 * an in-process write(bs) + fdatasync loop (dd's work without the process
 * or /dev/zero): the floor of "one write and one sync per batch".
 *
 * Runs: compress = none (rotate_bytes 256MiB: a rotation is a rename) and
 * compress = zstd (each 256 MiB rotation is compressed inline in send, so
 * the compression time is in the number). Everything lives in a fresh
 * $TMPDIR/tg-bench-file-XXXXXX, emptied after each run and removed at the
 * end. After each run the bench checks that the files hold every byte sent
 * (the .zst by their frame content size). A benchmark: exit 1 only on an
 * error, never on speed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zstd.h>

#include "exporters/sink.h"
#include "ocsf/ocsf.h"

#define GOAL_RATIO 0.70

static char root[256], outdir[300];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static void empty_outdir(void)
{
    nftw(outdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    mkdir(outdir, 0750);
}

/* One batch of n real events. */
typedef struct {
    exp_event_t *ev;
    char **json;
    size_t n, bytes;
} batch_t;

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

/* (Re)fills b with batch k: sample (i % count), metadata.sequence and time
 * from the global index, a fresh random metadata.uid (as compressible as
 * real events, not k copies of one batch). */
static int fill_batch(batch_t *b, size_t n, size_t k)
{
    ocsf_event_t s[32];
    size_t ns = ocsf_samples(s, 32);
    if (ns > 32)
        ns = 32;
    if (!b->ev && (!(b->ev = calloc(n, sizeof *b->ev)) || !(b->json = calloc(n, sizeof *b->json))))
        return -ENOMEM;
    b->n = n;
    b->bytes = 0;
    for (size_t i = 0; i < n; i++) {
        ocsf_event_t ev = s[i % ns];
        uint64_t g = (uint64_t)k * n + i;
        ev.sequence = (int64_t)g + 1;
        ev.time += (int64_t)g;
        uint8_t rnd[16];
        for (int j = 0; j < 16; j += 8) {
            uint64_t r = next_rand();
            memcpy(rnd + j, &r, 8);
        }
        ocsf_uuid_v4(rnd, ev.uid);
        ocsf_buf_t buf;
        char err[256];
        ocsf_buf_init(&buf);
        if (ocsf_encode(&ev, &buf, err, sizeof err) != 0) {
            fprintf(stderr, "encode: %s\n", err);
            return -EINVAL;
        }
        free(b->json[i]);
        b->json[i] = buf.p;
        b->ev[i] = (exp_event_t){.seq = g + 1,
                                 .json = buf.p,
                                 .json_len = buf.len,
                                 .sandbox = "",
                                 .class_uid = ev.class_uid,
                                 .class_name = ocsf_class_name(ev.class_uid),
                                 .time_ms = ev.time};
        b->bytes += buf.len;
    }
    return 0;
}

typedef struct {
    double secs, cpu;    /* in send only */
    uint64_t sent;       /* bytes of the lines sent */
    uint64_t file_bytes; /* bytes the files hold (uncompressed) */
    uint64_t disk_bytes; /* bytes on disk (compressed where compressed) */
    unsigned files;
} run_t;

/* Sums what the directory holds: plain files by size, .zst by the frame's
 * content size. */
static int measure_dir(run_t *r)
{
    DIR *d = opendir(outdir);
    if (!d)
        return -errno;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", outdir, de->d_name);
        struct stat st;
        if (stat(p, &st) != 0)
            continue;
        r->files++;
        r->disk_bytes += (uint64_t)st.st_size;
        size_t len = strlen(de->d_name);
        if (len < 4 || strcmp(de->d_name + len - 4, ".zst") != 0) {
            r->file_bytes += (uint64_t)st.st_size;
            continue;
        }
        unsigned char head[18]; /* ZSTD_FRAMEHEADERSIZE_MAX (static-linking API only) */
        FILE *f = fopen(p, "rb");
        size_t got = f ? fread(head, 1, sizeof head, f) : 0;
        if (f)
            fclose(f);
        unsigned long long cs = ZSTD_getFrameContentSize(head, got);
        if (cs == ZSTD_CONTENTSIZE_UNKNOWN || cs == ZSTD_CONTENTSIZE_ERROR)
            rc = -EBADMSG;
        else
            r->file_bytes += cs;
    }
    closedir(d);
    return rc;
}

static int run_sink(const char *compress, const char *level, batch_t *b, size_t batches, run_t *r)
{
    static atomic_bool stop;
    void *cfg = calloc(1, exp_sink_file.config_size);
    void *sink = NULL;
    char err[256];
    int rc = cfg ? conf_defaults(exp_sink_file.options, cfg) : -ENOMEM;
    const char *kv[][2] = {
        {"dir", outdir}, {"compress", compress}, {"zstd_level", level}, {"keep_files", "0"}};
    for (size_t i = 0; rc == 0 && i < sizeof kv / sizeof kv[0]; i++)
        rc = conf_set(exp_sink_file.options, cfg, kv[i][0], kv[i][1], err, sizeof err);
    exp_common_t common = {.name = "bench", .ocsf_version = "1.7.0", .stop = &stop};
    if (rc == 0)
        rc = exp_sink_file.open(&common, cfg, &sink, err, sizeof err);
    uint8_t *verdict = malloc(b->n);
    char **reason = calloc(b->n, sizeof *reason);
    exp_batch_t batch = {.verdict = verdict, .reason = reason, .ocsf_version = "1.7.0"};
    for (size_t k = 0; rc == 0 && k < batches; k++) {
        if ((rc = fill_batch(b, b->n, k)) != 0) /* not timed */
            break;
        batch.ev = b->ev, batch.n = b->n, batch.bytes = b->bytes;
        r->sent += b->bytes + b->n;
        memset(verdict, EXP_RETRY, b->n);
        double t0 = now_s(), c0 = cpu_s();
        if (exp_sink_file.send(sink, &batch, err, sizeof err) != EXP_SEND_DONE)
            rc = -EIO;
        r->secs += now_s() - t0;
        r->cpu += cpu_s() - c0;
        for (size_t i = 0; rc == 0 && i < b->n; i++)
            if (verdict[i] != EXP_OK)
                rc = -EIO;
    }
    if (rc)
        fprintf(stderr, "bench_file_sink: compress=%s: %s\n", compress, err);
    if (sink)
        exp_sink_file.close(sink);
    if (cfg) {
        exp_sink_file.dispose(cfg);
        free(cfg);
    }
    free(verdict);
    free(reason);
    if (rc == 0 && (rc = measure_dir(r)) != 0)
        fprintf(stderr, "bench_file_sink: a .zst without its content size\n");
    empty_outdir();
    return rc;
}

static int run_dd(const char *how, size_t bs, size_t count, double *secs)
{
    char cmd[900];
    snprintf(cmd, sizeof cmd,
             "dd if=/dev/zero of='%s/dd.out' bs=%zu count=%zu iflag=fullblock %s status=none",
             outdir, bs, count, how);
    fflush(stdout);
    double t0 = now_s();
    int st = system(cmd);
    *secs = now_s() - t0;
    empty_outdir();
    if (st != 0)
        fprintf(stderr, "bench_file_sink: `%s` failed (%d)\n", cmd, st);
    return st == 0 ? 0 : -EIO;
}

/* What dd oflag=dsync does, in-process: write(bs) + fdatasync per block,
 * from a buffer of real lines (the first batch, repeated to bs bytes). */
static int run_raw(const batch_t *b, size_t bs, size_t count, double *secs)
{
    char *buf = malloc(bs), p[400];
    for (size_t off = 0, i = 0; buf && off < bs; i++) {
        const exp_event_t *e = &b->ev[i % b->n];
        size_t m = e->json_len < bs - off ? e->json_len : bs - off - 1;
        memcpy(buf + off, e->json, m);
        off += m;
        buf[off++] = '\n';
    }
    snprintf(p, sizeof p, "%s/raw.out", outdir);
    int fd = buf ? open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640) : -1, rc = 0;
    double t0 = now_s();
    for (size_t k = 0; fd >= 0 && rc == 0 && k < count; k++)
        if (write(fd, buf, bs) != (ssize_t)bs || fdatasync(fd) != 0)
            rc = -EIO;
    *secs = now_s() - t0;
    if (fd < 0 || rc)
        fprintf(stderr, "bench_file_sink: raw write loop failed\n");
    if (fd >= 0)
        close(fd);
    free(buf);
    empty_outdir();
    return fd < 0 ? -EIO : rc;
}

static void row(const char *name, double secs, double events, double bytes, double cpu,
                double peer_secs)
{
    printf("%-34s %8.2f s %11.0f ev/s %8.1f MB/s", name, secs, events / secs, bytes / secs / 1e6);
    if (cpu >= 0)
        printf("  cpu %5.2f s", cpu);
    if (peer_secs > 0)
        printf("  ratio %.2f of dd", peer_secs / secs);
    putchar('\n');
}

static int setup_root(void)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(root, sizeof root, "%s/tg-bench-file-XXXXXX", base);
    if (!mkdtemp(root))
        return -errno;
    snprintf(outdir, sizeof outdir, "%s/out", root);
    return mkdir(outdir, 0750) == 0 ? 0 : -errno;
}

int main(int argc, char **argv)
{
    long events = argc > 1 ? atol(argv[1]) : 1000000;
    long per = argc > 2 ? atol(argv[2]) : 10000;
    const char *level = argc > 3 ? argv[3] : "3";
    if (events <= 0 || per <= 0 || per > events) {
        fprintf(stderr, "usage: bench_file_sink [events [batch [zstd level]]]\n");
        return 2;
    }
    size_t batches = (size_t)(events / per);
    batch_t b = {0};
    double total = 0, n = (double)batches * (double)per;
    if (setup_root() != 0) {
        fprintf(stderr, "bench_file_sink: cannot make a temp dir\n");
        return 1;
    }
    for (size_t k = 0; k < batches; k++) { /* the bytes dd must write */
        if (fill_batch(&b, (size_t)per, k) != 0)
            return 1;
        total += (double)(b.bytes + b.n); /* a '\n' per event */
    }
    size_t bs = (size_t)(total / (double)batches + 0.5);
    printf("file sink: %zu batches of %ld events (%.0f B/event, %.2f MB/batch), fsync per batch,"
           " in %s\n",
           batches, per, total / n, (double)bs / 1e6, outdir);
    double dd1, dd2, ddf;
    run_t none = {0}, zstd = {0};
    int rc = run_dd("oflag=dsync", bs, batches, &dd1);
    rc = rc ? rc : run_sink("none", level, &b, batches, &none);
    rc = rc ? rc : run_sink("zstd", level, &b, batches, &zstd);
    rc = rc ? rc : run_dd("oflag=dsync", bs, batches, &dd2);
    rc = rc ? rc : run_dd("conv=fdatasync", bs, batches, &ddf);
    double raw = 0;
    rc = rc ? rc : run_raw(&b, bs, batches, &raw);
    if (rc == 0) {
        double dd = (dd1 + dd2) / 2;
        row("dd oflag=dsync (peer, mean of 2)", dd, n, total, -1, 0);
        row("dd conv=fdatasync (1 sync, info)", ddf, n, total, -1, 0);
        row("write+fdatasync loop (info)", raw, n, total, -1, 0);
        row("sink compress=none", none.secs, n, total, none.cpu, dd);
        char name[64];
        snprintf(name, sizeof name, "sink compress=zstd (level %s)", level);
        row(name, zstd.secs, n, total, zstd.cpu, dd);
        printf("dd runs: %.2f s and %.2f s; zstd: %.1f MB on disk for %.1f MB (%.1fx), %u files\n",
               dd1, dd2, zstd.disk_bytes / 1e6, zstd.file_bytes / 1e6,
               zstd.disk_bytes ? (double)zstd.file_bytes / (double)zstd.disk_bytes : 0, zstd.files);
        double ratio = dd / none.secs;
        printf("%s: sink compress=none at %.0f%% of dd (goal >= %.0f%%)\n",
               ratio >= GOAL_RATIO ? "PASS" : "MISS", ratio * 100, GOAL_RATIO * 100);
        if (none.file_bytes != none.sent || zstd.file_bytes != zstd.sent ||
            none.sent != (uint64_t)total) {
            fprintf(stderr, "bench_file_sink: files hold %llu / %llu bytes, sent %.0f\n",
                    (unsigned long long)none.file_bytes, (unsigned long long)zstd.file_bytes,
                    total);
            rc = -EIO;
        }
    }
    nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    for (size_t i = 0; i < b.n; i++)
        free(b.json[i]);
    free(b.json);
    free(b.ev);
    return rc ? 1 : 0;
}
