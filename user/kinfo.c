// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel facts from BTF: which tracepoints exist and with which arguments, and the names of
 * enum sk_rst_reason's values (they were renumbered in 6.12: resolve by name, never by number).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <bpf/btf.h>
#include "kinfo.h"


static const char *const tp_names[] = {
	[KTP_SEND_RESET] = "btf_trace_tcp_send_reset",
	[KTP_RECV_RESET] = "btf_trace_tcp_receive_reset",
	[KTP_SET_STATE] = "btf_trace_inet_sock_set_state",
	[KTP_SEND_LENGTH] = "btf_trace_sock_send_length",
	[KTP_RECV_LENGTH] = "btf_trace_sock_recv_length",
	[KTP_DESTROY_SOCK] = "btf_trace_tcp_destroy_sock",
	[KTP_DEV_QUEUE] = "btf_trace_net_dev_queue",
};

/* number of arguments of a btf_trace_* typedef, not counting the leading void *; -1 if none */
static int tp_args(const struct btf *btf, const char *name)
{
	int id = btf__find_by_name_kind(btf, name, BTF_KIND_TYPEDEF);
	const struct btf_type *t;

	if (id < 0)
		return -1;
	t = btf__type_by_id(btf, id);
	t = btf__type_by_id(btf, t->type);		/* pointer */
	if (!t || !btf_is_ptr(t))
		return -1;
	t = btf__type_by_id(btf, t->type);		/* func proto */
	if (!t || !btf_is_func_proto(t))
		return -1;
	return btf_vlen(t) - 1;
}

/* number of parameters of a kernel function, -1 if BTF does not describe it */
static int func_args(const struct btf *btf, const char *name)
{
	int id = btf__find_by_name_kind(btf, name, BTF_KIND_FUNC);
	const struct btf_type *t;

	if (id < 0)
		return -1;
	t = btf__type_by_id(btf, btf__type_by_id(btf, id)->type);
	return t && btf_is_func_proto(t) ? btf_vlen(t) : -1;
}

int kinfo_load(struct kinfo *ki, const char *btf_path)
{
	struct btf *vmlinux_btf;
	struct utsname u;
	int id;

	memset(ki, 0, sizeof(*ki));
	ki->send_reset_args = -1;
	ki->btf_path = btf_path;
	ki->kernel_btf = !access("/sys/kernel/btf/vmlinux", R_OK);
	if (!uname(&u))
		snprintf(ki->release, sizeof(ki->release), "%s", u.release);

	vmlinux_btf = btf_path ? btf__parse(btf_path, NULL) : btf__load_vmlinux_btf();
	if (!vmlinux_btf)
		return -errno ? -errno : -ENOENT;
	ki->btf = true;

	for (size_t i = 0; i < sizeof(tp_names) / sizeof(tp_names[0]); i++)
		ki->has_tp[i] = tp_args(vmlinux_btf, tp_names[i]) >= 0;
	ki->send_reset_args = tp_args(vmlinux_btf, tp_names[KTP_SEND_RESET]);
	ki->v4_reset_args = func_args(vmlinux_btf, "tcp_v4_send_reset");
	/* the iterator's context type exists where the kernel has the iterator */
	ki->task_file_iter = ki->kernel_btf && !btf_path &&
			     btf__find_by_name_kind(vmlinux_btf, "bpf_iter__task_file",
						    BTF_KIND_STRUCT) > 0;

	id = btf__find_by_name_kind(vmlinux_btf, "sk_rst_reason", BTF_KIND_ENUM);
	if (id > 0) {
		const struct btf_type *t = btf__type_by_id(vmlinux_btf, id);
		const struct btf_enum *e = btf_enum(t);

		ki->reason_enum = true;
		for (int i = 0; i < btf_vlen(t); i++) {
			const char *name = btf__name_by_offset(vmlinux_btf, e[i].name_off);
			unsigned int v = e[i].val;

			if (!name || v >= KINFO_MAX_REASONS)
				continue;
			if (!strncmp(name, "SK_RST_REASON_", 14))
				name += 14;
			if (!strcmp(name, "MAX"))
				continue;
			/* copied: the BTF is freed once the facts are read (it is megabytes) */
			ki->reason_name[v] = strdup(name);
			ki->reason_kr[v] = rw_kreason_from_name(name);
			if ((int)v >= ki->nreasons)
				ki->nreasons = v + 1;
		}
	}
	btf__free(vmlinux_btf);
	return 0;
}

void kinfo_free(struct kinfo *ki)
{
	for (int i = 0; i < ki->nreasons; i++) {
		free((char *)ki->reason_name[i]);
		ki->reason_name[i] = NULL;
	}
	ki->nreasons = 0;
}

const char *kinfo_reason_name(const struct kinfo *ki, unsigned int value)
{
	return value < (unsigned int)ki->nreasons ? ki->reason_name[value] : NULL;
}

enum rw_kreason kinfo_reason(const struct kinfo *ki, unsigned int value)
{
	if (value >= (unsigned int)ki->nreasons || !ki->reason_name[value])
		return KR_OTHER;
	return ki->reason_kr[value];
}
