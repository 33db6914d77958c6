/*
 * ident_iter.bpf.c: the BPF half of proxy/ident_bpf.c. A task_file iterator
 * that writes one record per open file of a process that is one of the
 * socket inodes the reading thread asked for (map `wanted`, keyed by the
 * reader's thread id: concurrent readers never see each other's inodes).
 *
 * Built with clang -O2 -g -target bpf (Makefile) and embedded in the
 * library. CO-RE: the kernel structures below are minimal and marked
 * preserve_access_index, libbpf relocates their fields against the running
 * kernel's BTF (/sys/kernel/btf/vmlinux); no vmlinux.h.
 */
#include <linux/bpf.h>
#include <linux/types.h>

#include <bpf/bpf_helpers.h>

#define TG_BATCH     64 /* inodes one run looks for (ident_bpf.c) */
#define S_IFMT       00170000
#define S_IFSOCK     0140000
#define SOCKFS_MAGIC 0x534F434B

struct seq_file;

struct bpf_iter_meta {
    struct seq_file *seq;
    __u64 session_id;
    __u64 seq_num;
} __attribute__((preserve_access_index));

struct super_block {
    unsigned long s_magic;
} __attribute__((preserve_access_index));

struct inode {
    unsigned short i_mode;
    unsigned long i_ino;
    struct super_block *i_sb;
} __attribute__((preserve_access_index));

struct file {
    struct inode *f_inode;
} __attribute__((preserve_access_index));

struct pid {
    unsigned int level;
} __attribute__((preserve_access_index));

struct task_struct {
    int pid;
    int tgid;
    struct pid *thread_pid;
} __attribute__((preserve_access_index));

struct bpf_iter__task_file {
    struct bpf_iter_meta *meta;
    struct task_struct *task;
    __u32 fd;
    struct file *file;
} __attribute__((preserve_access_index));

/* What one reader looks for (the same layout as ident_bpf.c's). */
struct tg_want {
    __u32 n;
    __u32 pad;
    __u64 ino[TG_BATCH];
};

/* One matching fd (the same layout as ident_bpf.c's). */
struct tg_rec {
    __u32 tgid;
    __u32 fd;
    __u32 idx;   /* which of the wanted inodes */
    __u32 flags; /* bit 0: the task is its process' leader; bits 8..15: the
                    pid namespace level of the task */
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u32); /* the reading thread's id */
    __type(value, struct tg_want);
} wanted SEC(".maps");

SEC("iter/task_file")
int tg_sock_holders(struct bpf_iter__task_file *ctx)
{
    struct task_struct *task = ctx->task;
    struct file *file = ctx->file;
    if (task == (void *)0 || file == (void *)0)
        return 0;
    struct inode *inode = file->f_inode;
    if (inode == (void *)0 || (inode->i_mode & S_IFMT) != S_IFSOCK)
        return 0;
    struct super_block *sb = inode->i_sb;
    if (sb == (void *)0 || sb->s_magic != SOCKFS_MAGIC)
        return 0; /* a socket file on a disk (O_PATH): not a socket's fd */
    __u32 reader = (__u32)bpf_get_current_pid_tgid();
    struct tg_want *w = bpf_map_lookup_elem(&wanted, &reader);
    if (w == (void *)0)
        return 0;
    unsigned long ino = inode->i_ino;
    __u32 n = w->n;
    for (__u32 i = 0; i < TG_BATCH; i++) {
        if (i >= n)
            break;
        if (w->ino[i] != ino)
            continue;
        struct tg_rec r = {
            .tgid = (__u32)task->tgid,
            .fd = ctx->fd,
            .idx = i,
            .flags = (task->pid == task->tgid ? 1u : 0u),
        };
        struct pid *tp = task->thread_pid;
        if (tp != (void *)0)
            r.flags |= (tp->level & 0xffu) << 8;
        bpf_seq_write(ctx->meta->seq, &r, sizeof r);
    }
    return 0;
}

/* GPL-compatible: bpf_seq_write is a GPL-only helper */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
