/* SPDX-License-Identifier: GPL-2.0 */
/* What the running kernel offers, read from its BTF once at start. */
#ifndef RW_KINFO_H
#define RW_KINFO_H

#include <stdbool.h>
#include "classify.h"

#define KINFO_MAX_REASONS 64

struct kinfo {
	bool btf;			/* BTF was loaded */
	bool kernel_btf;		/* the running kernel has its own BTF (tp_btf, fentry) */
	const char *btf_path;		/* --btf: an external BTF file, NULL for the kernel's */
	int v4_reset_args;		/* arguments of tcp_v4_send_reset, -1 if not in BTF */
	bool reason_enum;		/* enum sk_rst_reason exists */
	int send_reset_args;		/* tcp:tcp_send_reset arguments, -1 if no such tracepoint */
	bool has_tp[8];			/* indexed by enum kinfo_tp */
	bool task_file_iter;		/* BPF iterators over open files (5.8+, kernel BTF) */
	int nreasons;
	const char *reason_name[KINFO_MAX_REASONS];	/* by value, without SK_RST_REASON_ */
	enum rw_kreason reason_kr[KINFO_MAX_REASONS];
	char release[128];
};

enum kinfo_tp {
	KTP_SEND_RESET,
	KTP_RECV_RESET,
	KTP_SET_STATE,
	KTP_SEND_LENGTH,
	KTP_RECV_LENGTH,
	KTP_DESTROY_SOCK,
	KTP_DEV_QUEUE,
};

/* fills ki; returns 0, or -errno when the kernel has no usable BTF */
int kinfo_load(struct kinfo *ki, const char *btf_path);
void kinfo_free(struct kinfo *ki);
const char *kinfo_reason_name(const struct kinfo *ki, unsigned int value);
enum rw_kreason kinfo_reason(const struct kinfo *ki, unsigned int value);

#endif
