// SPDX-License-Identifier: GPL-2.0
/*
 * rstwhy kernel side: one record per RST the TCP stack sends (and, with -r, receives), with the
 * evidence the user-space classifier needs, and an owner record per socket kept in process
 * context so softirq and timer resets can name the process that owns the socket.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "rstwhy.h"

#define AF_INET		2
#define AF_INET6	10
#define IPPROTO_TCP	6

/* linux/tcp_states.h */
#define TCP_ESTABLISHED	1
#define TCP_SYN_SENT	2
#define TCP_SYN_RECV	3
#define TCP_FIN_WAIT1	4
#define TCP_FIN_WAIT2	5
#define TCP_TIME_WAIT	6
#define TCP_CLOSE	7
#define TCP_CLOSE_WAIT	8
#define TCP_LAST_ACK	9
#define TCP_LISTEN	10
#define TCP_CLOSING	11
#define TCP_NEW_SYN_RECV 12

char LICENSE[] SEC("license") = "GPL";

/* set by user space between open and load */
const volatile __u32 filter_netns = 0;		/* 0: every namespace */
const volatile bool want_stacks = false;	/* -s: stacks for every event */
const volatile bool want_recv = false;		/* -r */
const volatile bool reason_arg = true;		/* tcp_send_reset has a reason argument */
const volatile __u64 wakeup_bytes = 0;		/* wake the consumer above this fill level */
const volatile bool egress_stack_pkts = false;	/* also the stack's own RSTs (for --pcapng) */
/*
 * Passive resets come from a hook on tcp_v4/v6_send_reset (fentry or kprobe) instead of the
 * tracepoint, which before 6.10 fires only for full sockets: the tracepoint then keeps the
 * active ones only, so that nothing is counted twice.
 */
const volatile bool passive_by_hook = false;
const volatile bool aggregate = false;		/* count in the agg map, no ring buffer */
const volatile bool no_egress_watch = false;	/* net_dev_queue is not attached */
/* the send-reset hook misses resets with no socket (tracepoint before 6.10) */
const volatile bool v6_nosk_ambiguous = false;
const volatile bool hook_has_reason = false;	/* tcp_v4_send_reset(sk, skb, reason): 6.10+ */
const volatile bool want_ustack = false;	/* -u: user stacks of active resets (needs BTF) */
/*
 * Socket records live in socket-local storage (freed with the socket: no destroy hook, no
 * LRU) when every program that reads or writes them can use it (tp_btf and fentry); the
 * sockets hash map keyed by address is the fallback. Set by user space after probing.
 */
const volatile bool use_sk_storage = false;

/*
 * Filters decided here so that what is not shown costs no record, no stack and no user-space
 * work. They only drop what user space would drop too (it re-checks what it can); whatever
 * needs the classifier (most --cause values) stays in user space.
 */
const volatile bool kfilter = false;		/* any filter below: count per namespace first */
const volatile __u16 filter_family = 0;		/* -4 / -6: AF_INET or AF_INET6, 0: both */
const volatile __u32 filter_nports = 0;		/* -P */
const volatile __u16 filter_ports[RW_MAX_PORTS] = {};
const volatile __u32 filter_tgid = 0;		/* -p: owner or actor */
const volatile bool filter_comm_on = false;	/* --comm: owner (or actor) process name */
const volatile char filter_comm[RW_COMM_LEN] = {};
const volatile bool filter_cgroup = false;	/* -c: owner in the cgroup_filter subtree */
/* --cause: no wanted cause can come from this path */
const volatile bool drop_stack_sent = false;	/* the TCP stack's resets (send-reset hook) */
const volatile bool drop_recv = false;		/* received resets */
const volatile __u32 drop_egress_kinds = 0;	/* 1 << enum rw_egress_kind */

#define owner_filter (filter_tgid || filter_comm_on || filter_cgroup)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);	/* set by user space: loader.c */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RW_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct sk_info {
	struct rw_task owner;
	__u64 cgroup_id;
	__u8 has_owner;
	__u8 prev_state;	/* state left by the last move to CLOSE, 0 if none */
	__u8 client;		/* connect()ed: its local port is an ephemeral one */
	__u8 in_cgroup;		/* -c: owner_in_cgroup() when the owner was recorded */
	__u8 seeded;		/* the owner was found at start (rw_seed_even), not seen acting */
	__u8 pad[3];
};

/* owner and last state per socket, keyed by the socket's address (without sk_owners) */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct sk_info);
} sockets SEC(".maps");

/* the same record in the socket's own storage */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sk_info);
} sk_owners SEC(".maps");

#define tuple_key rw_tuple_key
#define owner_rec rw_owner_rec
#define listener_key rw_listener_key

/*
 * owners by 4-tuple and namespace of the sockets that existed before rstwhy started, where
 * they are not in socket-local storage (sized by user space to hold them all)
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct tuple_key);
	__type(value, struct owner_rec);
} tuple_owners SEC(".maps");

/*
 * The owner of each socket that went into timewait, for a RST its timewait stand-in sends:
 * written at every active close, so it is a direct-mapped cache (a slot per 4-tuple hash, the
 * newest wins, the tuple checked on reading) rather than a hash map: no lock, no allocation,
 * no LRU list on the path every connection takes.
 */
#define TW_SLOTS 32768

struct tw_slot {
	struct tuple_key k;
	struct owner_rec o;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TW_SLOTS);
	__type(key, __u32);
	__type(value, struct tw_slot);
} tw_owners SEC(".maps");

static __always_inline __u32 tuple_slot(const struct tuple_key *k)
{
	const __u32 *w = (const __u32 *)k;
	__u32 h = 2166136261u;

	for (int i = 0; i < sizeof(*k) / 4; i++)
		h = (h ^ w[i]) * 16777619u;
	return (h ^ (h >> 15)) & (TW_SLOTS - 1);
}

/* owner of the listener on each local port: fallback for accepted sockets never touched */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct listener_key);
	__type(value, struct owner_rec);
} listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct rw_agg_key);
	__type(value, __u64);
} agg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__uint(value_size, RW_MAX_STACK * sizeof(__u64));
} stacks SEC(".maps");

/*
 * IPv6 resets answering a segment with no socket leave without any socket on the skb (IPv4
 * ones go through the per-CPU control socket): the egress hook would take them for netfilter.
 * The send-reset hook, which runs before they are sent, notes them here.
 */
struct stack_rst_key {
	__u32 netns;
	__u16 sport;
	__u16 dport;
	__u32 seq;
	__u32 ack;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct stack_rst_key);
	__type(value, __u8);
} stack_rsts SEC(".maps");

/* -c: slot 0 holds the cgroup v2 directory whose subtree is wanted */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cgroup_filter SEC(".maps");

/*
 * With filters on, RSTs the send-reset hook saw per namespace before filtering: the closing
 * check against each namespace's TcpOutRsts compares like with like.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} ns_seen SEC(".maps");

/* the record being built when it does not go to the ring buffer */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rw_event);
} scratch SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		*v += 1;
}

/*
 * The current thread (pid, thread) and its process (tgid, comm: the thread-group leader's
 * name, what ps shows). Only a thread other than the leader costs a read more.
 */
static __always_inline void fill_task(struct rw_task *t)
{
	__u64 id = bpf_get_current_pid_tgid();

	t->pid = (__u32)id;
	t->tgid = id >> 32;
	bpf_get_current_comm(t->thread, sizeof(t->thread));
	if (t->pid == t->tgid) {
		__builtin_memcpy(t->comm, t->thread, sizeof(t->comm));
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		if (BPF_CORE_READ_INTO(&t->comm, task, group_leader, comm))
			__builtin_memcpy(t->comm, t->thread, sizeof(t->comm));
	}
}

/*
 * -c: whether the current task (recording itself as a socket's owner, in process context)
 * is in the wanted cgroup subtree; the answer is kept with the owner for events in softirq.
 */
static __always_inline __u8 owner_in_cgroup(void)
{
	return filter_cgroup && bpf_current_task_under_cgroup(&cgroup_filter, 0) == 1;
}

static __always_inline void count_ns_seen(__u32 netns)
{
	__u64 one = 1, *v = bpf_map_lookup_elem(&ns_seen, &netns);

	if (v)
		*v += 1;
	else if (bpf_map_update_elem(&ns_seen, &netns, &one, BPF_NOEXIST))
		count(RW_CNT_NS_FULL);
}

static __always_inline bool port_wanted(__u16 a, __u16 b)
{
	for (int i = 0; i < RW_MAX_PORTS; i++) {
		if (i >= filter_nports)
			break;
		if (filter_ports[i] == a || filter_ports[i] == b)
			return true;
	}
	return false;
}

static __always_inline bool comm_is(const char *c)
{
	for (int i = 0; i < RW_COMM_LEN; i++) {
		if (c[i] != filter_comm[i])
			return false;
		if (!c[i])
			break;
	}
	return true;
}

/*
 * Programs with BTF pointers (tp_btf, fentry: btf is a compile-time constant) read the
 * socket with plain loads; the others go through bpf_probe_read_kernel.
 */
#define SK_READ(btf, sk, field) ((btf) ? (sk)->field : BPF_CORE_READ(sk, field))

static __always_inline __u32 sk_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* --netns: owners and states are kept only for the watched namespace's sockets */
static __always_inline bool sk_watched(const struct sock *sk, bool btf)
{
	if (!filter_netns)
		return true;
	if (btf)
		return sk->__sk_common.skc_net.net->ns.inum == filter_netns;
	return sk_netns(sk) == filter_netns;
}

static __always_inline bool sk_is_tcp_inet(const struct sock *sk, bool btf)
{
	__u16 family = SK_READ(btf, sk, __sk_common.skc_family);
	__u16 proto;

	if (family != AF_INET && family != AF_INET6)
		return false;
	if (btf)
		proto = BPF_CORE_READ_BITFIELD(sk, sk_protocol);
	else
		proto = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	return proto == IPPROTO_TCP;
}

static __always_inline void sk_ports(const struct sock *sk, __u8 state, __u16 *lport,
				     __u16 *rport)
{
	/*
	 * A full socket moving to CLOSE gives its port back (inet_put_port zeroes skc_num) before
	 * the state tracepoint and before the active reset: inet_sport stays.
	 */
	if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV)
		*lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	else
		*lport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	*rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
}

/* the socket's record, created on demand: socket-local storage or the hash map */
static __always_inline struct sk_info *sk_info_get(const struct sock *sk, bool btf, bool create)
{
	__u64 key = (__u64)sk;
	struct sk_info zero = {};

	if (btf && use_sk_storage)
		return bpf_sk_storage_get(&sk_owners, (struct sock *)sk, 0,
					  create ? BPF_SK_STORAGE_GET_F_CREATE : 0);
	if (create) {
		struct sk_info *cur = bpf_map_lookup_elem(&sockets, &key);

		if (cur)
			return cur;
		bpf_map_update_elem(&sockets, &key, &zero, BPF_NOEXIST);
	}
	return bpf_map_lookup_elem(&sockets, &key);
}

/* a new socket at this address: start a fresh record (hash map: forget the old one) */
static __always_inline struct sk_info *sk_info_new(const struct sock *sk, bool btf)
{
	struct sk_info *cur;
	__u64 key = (__u64)sk;

	if (!(btf && use_sk_storage))
		bpf_map_delete_elem(&sockets, &key);
	cur = sk_info_get(sk, btf, true);
	if (cur)
		__builtin_memset(cur, 0, sizeof(*cur));
	return cur;
}

/* local/remote tuple of any socket (full, timewait or request: all start with sock_common) */
static __always_inline void sk_tuple(const struct sock *sk, struct tuple_key *k)
{
	__u8 state = BPF_CORE_READ(sk, __sk_common.skc_state);

	k->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	sk_ports(sk, state, &k->lport, &k->rport);
	if (k->family == AF_INET) {
		bpf_core_read(k->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(k->raddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(k->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(k->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/*
 * The process acting on the socket in process context holds it: it becomes the owner. A
 * process seen again costs one lookup and a compare.
 */
static __always_inline void set_owner(struct sk_info *cur)
{
	fill_task(&cur->owner);
	cur->cgroup_id = bpf_get_current_cgroup_id();
	cur->in_cgroup = owner_in_cgroup();
	cur->has_owner = 1;
	cur->seeded = 0;
	count(RW_CNT_OWNER_SET);
}

static __always_inline void record_owner(const struct sock *sk, bool btf)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct sk_info *cur = sk_info_get(sk, btf, false);

	if (cur && cur->has_owner && cur->owner.tgid == tgid)
		return;
	if (!cur)
		cur = sk_info_get(sk, btf, true);
	if (cur)
		set_owner(cur);
}

static __always_inline void record_listener(const struct sock *sk)
{
	struct listener_key k = {};
	struct owner_rec o = {};

	k.netns = sk_netns(sk);
	k.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	k.port = BPF_CORE_READ(sk, __sk_common.skc_num);
	fill_task(&o.owner);
	o.cgroup_id = bpf_get_current_cgroup_id();
	o.in_cgroup = owner_in_cgroup();
	o.src = RW_OWN_LISTENER;
	bpf_map_update_elem(&listeners, &k, &o, BPF_ANY);
}

/*
 * The moves that end a connection the ordinary way: no RST can follow them in the same call,
 * so the state before CLOSE need not be kept for a socket that has no record yet.
 */
static __always_inline bool quiet_close(int oldstate)
{
	return oldstate == TCP_LAST_ACK || oldstate == TCP_FIN_WAIT2 || oldstate == TCP_CLOSING ||
	       oldstate == TCP_TIME_WAIT;
}

static __always_inline int on_set_state(const struct sock *sk, int oldstate, int newstate,
					bool btf)
{
	struct sk_info *cur;

	/* most moves need nothing: decide on the arguments before reading the socket */
	switch (newstate) {
	case TCP_LISTEN:
	case TCP_SYN_SENT:
	case TCP_FIN_WAIT1:
	case TCP_LAST_ACK:
	case TCP_CLOSE:
		break;
	case TCP_SYN_RECV:
		/* a new child (softirq): forget whatever used this address before */
		if (!(btf && use_sk_storage) && oldstate != TCP_SYN_SENT &&
		    sk_is_tcp_inet(sk, btf)) {
			__u64 key = (__u64)sk;

			bpf_map_delete_elem(&sockets, &key);
		}
		return 0;
	default:
		return 0;
	}
	if (!sk_watched(sk, btf) || !sk_is_tcp_inet(sk, btf))
		return 0;

	switch (newstate) {
	case TCP_LISTEN:	/* listen(): process context */
		cur = sk_info_new(sk, btf);
		if (cur)
			set_owner(cur);
		record_listener(sk);
		break;
	case TCP_SYN_SENT:	/* connect(): process context */
		cur = sk_info_new(sk, btf);
		if (cur) {
			set_owner(cur);
			cur->client = 1;
		}
		break;
	case TCP_FIN_WAIT1:	/* close()/shutdown(): process context, the closer holds it */
	case TCP_LAST_ACK:
		record_owner(sk, btf);
		break;
	case TCP_CLOSE:
		cur = sk_info_get(sk, btf, !quiet_close(oldstate));
		if (!cur)
			break;
		cur->prev_state = oldstate;
		/* the socket may live on as a timewait socket: keep its owner by 4-tuple */
		if (cur->has_owner && (oldstate == TCP_FIN_WAIT1 || oldstate == TCP_FIN_WAIT2 ||
				       oldstate == TCP_CLOSING)) {
			struct tuple_key k = {};
			struct tw_slot *t;
			__u32 slot;

			sk_tuple(sk, &k);
			k.netns = sk_netns(sk);
			slot = tuple_slot(&k);
			t = bpf_map_lookup_elem(&tw_owners, &slot);
			if (!t)
				break;
			t->k = k;
			t->o.owner = cur->owner;
			t->o.cgroup_id = cur->cgroup_id;
			t->o.src = RW_OWN_TIMEWAIT;
			t->o.client = cur->client;
			t->o.in_cgroup = cur->in_cgroup;
		}
		break;
	}
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(rw_set_state, const struct sock *sk, int oldstate, int newstate)
{
	return on_set_state(sk, oldstate, newstate, true);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(rw_set_state_raw, const struct sock *sk, int oldstate, int newstate)
{
	return on_set_state(sk, oldstate, newstate, false);
}

/* send/recv on a socket: process context, the caller holds the socket */
static __always_inline int on_sock_io(const struct sock *sk)
{
	if (sk && sk_watched(sk, true) && sk_is_tcp_inet(sk, true))
		record_owner(sk, true);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(rw_sock_send, struct sock *sk)
{
	return on_sock_io(sk);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(rw_sock_recv, struct sock *sk)
{
	return on_sock_io(sk);
}

/* accept(): the returned descriptor's socket belongs to the caller */
static __always_inline int on_accept_exit(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fdarr, *file;
	struct socket *sock;
	struct sock *sk;
	unsigned int max;

	if (fd < 0)
		return 0;
	max = BPF_CORE_READ(task, files, fdt, max_fds);
	if (fd >= max)
		return 0;
	fdarr = BPF_CORE_READ(task, files, fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fdarr[fd]) || !file)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock || BPF_CORE_READ(sock, file) != file)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	if (sk && sk_watched(sk, false) && sk_is_tcp_inet(sk, false))
		record_owner(sk, false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int rw_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int rw_accept(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx->ret);
}

static __always_inline int on_destroy(const struct sock *sk)
{
	__u64 key = (__u64)sk;

	bpf_map_delete_elem(&sockets, &key);
	return 0;
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(rw_destroy, struct sock *sk)
{
	return on_destroy(sk);
}

SEC("raw_tp/tcp_destroy_sock")
int BPF_PROG(rw_destroy_raw, struct sock *sk)
{
	return on_destroy(sk);
}

static __always_inline long rb_flags(void)
{
	if (wakeup_bytes && bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* the incoming segment: addresses swapped so that saddr/sport are the RST's own */
static __always_inline void read_skb(struct rw_event *e, const struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th_off = BPF_CORE_READ(skb, transport_header);
	struct tcphdr th;
	__u8 ver = 0, doff;

	if (bpf_probe_read_kernel(&th, sizeof(th), head + th_off))
		return;
	bpf_probe_read_kernel(&ver, 1, head + nh);
	ver >>= 4;
	doff = th.doff * 4;
	e->flags |= RW_F_SKB;
	e->in_flags = ((__u8 *)&th)[13];
	e->in_seq = bpf_ntohl(th.seq);
	e->in_ack = bpf_ntohl(th.ack_seq);
	/* a passive RST goes back to where the segment came from, whatever the socket says */
	e->sport = bpf_ntohs(th.dest);
	e->dport = bpf_ntohs(th.source);
	if (ver == 4) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return;
		e->in_payload = bpf_ntohs(ip.tot_len) - ip.ihl * 4 - doff;
		e->family = AF_INET;
		__builtin_memset(e->saddr, 0, 16);
		__builtin_memset(e->daddr, 0, 16);
		__builtin_memcpy(e->saddr, &ip.daddr, 4);
		__builtin_memcpy(e->daddr, &ip.saddr, 4);
	} else if (ver == 6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
			return;
		e->in_payload = bpf_ntohs(ip6.payload_len) - (th_off - nh - 40) - doff;
		e->family = AF_INET6;
		__builtin_memcpy(e->saddr, &ip6.daddr, 16);
		__builtin_memcpy(e->daddr, &ip6.saddr, 16);
	}
}

static __always_inline void copy_owner(struct rw_event *e, const struct rw_task *t, __u64 cg,
				       __u8 src, __u8 in_cgroup)
{
	e->owner = *t;
	e->cgroup_id = cg;
	e->owner_src = src;
	e->flags |= RW_F_OWNER;
	if (in_cgroup)
		e->flags |= RW_F_IN_CGROUP;
}

static __always_inline bool tuple_eq(const struct tuple_key *a, const struct tuple_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	for (int i = 0; i < sizeof(*a) / 4; i++)
		if (x[i] != y[i])
			return false;
	return true;
}

static __always_inline void read_sock(struct rw_event *e, const struct sock *sk, bool btf)
{
	struct tuple_key k = {};
	struct sk_info *info;
	struct owner_rec *o;
	struct tw_slot *t;
	__u32 slot;

	e->flags |= RW_F_SK;
	e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	e->netns = sk_netns(sk);
	sk_tuple(sk, &k);
	e->family = k.family;
	e->sport = k.lport;
	e->dport = k.rport;
	__builtin_memcpy(e->saddr, k.laddr, 16);
	__builtin_memcpy(e->daddr, k.raddr, 16);

	if (e->state == TCP_TIME_WAIT) {
		e->flags |= RW_F_TIMEWAIT;
		e->tw_substate = BPF_CORE_READ((struct inet_timewait_sock *)sk, tw_substate);
		k.netns = e->netns;
		slot = tuple_slot(&k);
		t = bpf_map_lookup_elem(&tw_owners, &slot);
		if (t && tuple_eq(&t->k, &k)) {
			copy_owner(e, &t->o.owner, t->o.cgroup_id, RW_OWN_TIMEWAIT,
				   t->o.in_cgroup);
			if (t->o.client)
				e->flags |= RW_F_CLIENT;
		}
		return;
	}
	if (e->state == TCP_NEW_SYN_RECV) {
		e->flags |= RW_F_REQSK;
		sk = BPF_CORE_READ((struct request_sock *)sk, __req_common.skc_listener);
		if (!sk)
			return;
	} else {
		const struct tcp_sock *tp = (const void *)sk;
		unsigned long skflags = BPF_CORE_READ(sk, __sk_common.skc_flags);

		e->flags |= RW_F_FULLSOCK;
		e->snd_nxt = BPF_CORE_READ(tp, snd_nxt);
		e->snd_una = BPF_CORE_READ(tp, snd_una);
		e->rcv_nxt = BPF_CORE_READ(tp, rcv_nxt);
		e->copied_seq = BPF_CORE_READ(tp, copied_seq);
		e->write_seq = BPF_CORE_READ(tp, write_seq);
		e->linger2 = BPF_CORE_READ(tp, linger2);
		e->lingertime = BPF_CORE_READ(sk, sk_lingertime);
		e->sk_shutdown = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_shutdown);
		e->probes_out = BPF_CORE_READ(tp, inet_conn.icsk_probes_out);
		e->user_timeout = BPF_CORE_READ(tp, inet_conn.icsk_user_timeout);
		if (skflags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_LINGER)))
			e->flags |= RW_F_LINGER;
		if (skflags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DEAD)))
			e->flags |= RW_F_DEAD;
		if (bpf_core_field_exists(tp->is_mptcp) && BPF_CORE_READ_BITFIELD_PROBED(tp, is_mptcp))
			e->flags |= RW_F_MPTCP;
		info = sk_info_get(sk, btf, false);
		if (info) {
			if (info->prev_state) {
				e->prev_state = info->prev_state;
				e->flags |= RW_F_PREV_STATE;
			}
			if (info->has_owner)
				copy_owner(e, &info->owner, info->cgroup_id,
					   info->seeded ? RW_OWN_PROCFS : RW_OWN_SOCKET,
					   info->in_cgroup);
			if (info->client)
				e->flags |= RW_F_CLIENT;
		}
		if (!(e->flags & RW_F_OWNER)) {
			/* a socket that predates us */
			k.netns = e->netns;
			o = bpf_map_lookup_elem(&tuple_owners, &k);
			if (o)
				copy_owner(e, &o->owner, o->cgroup_id, RW_OWN_PROCFS,
					   o->in_cgroup);
		}
	}
	/* listener (or a request socket's listener) queue */
	e->ack_backlog = BPF_CORE_READ(sk, sk_ack_backlog);
	e->max_ack_backlog = BPF_CORE_READ(sk, sk_max_ack_backlog);
	if (!(e->flags & RW_F_OWNER)) {
		struct listener_key lk = {};

		lk.netns = e->netns;
		lk.family = e->family;
		lk.port = e->sport;
		o = bpf_map_lookup_elem(&listeners, &lk);
		if (o)
			copy_owner(e, &o->owner, o->cgroup_id, RW_OWN_LISTENER, o->in_cgroup);
	}
}

static __always_inline __u32 skb_netns(const struct sk_buff *skb)
{
	return BPF_CORE_READ(skb, dev, nd_net.net, ns.inum);
}

static __always_inline void note_stack_rst(const struct rw_event *e)
{
	struct stack_rst_key k = {};
	__u8 one = 1;

	k.netns = e->netns;
	k.sport = e->sport;
	k.dport = e->dport;
	RW_RST_ANSWER(e->in_flags, e->in_seq, e->in_ack, e->in_payload, k.seq, k.ack);
	__builtin_memcpy(k.saddr, e->saddr, 16);
	__builtin_memcpy(k.daddr, e->daddr, 16);
	bpf_map_update_elem(&stack_rsts, &k, &one, BPF_ANY);
}

/* the record is built in place, or in scratch when it may still be filtered out */
static __always_inline struct rw_event *new_event(void)
{
	struct rw_event *e;
	__u32 zero = 0;

	if (aggregate || owner_filter)
		return bpf_map_lookup_elem(&scratch, &zero);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		count(RW_CNT_RB_FAIL);
	return e;
}

static __always_inline void submit_event(struct rw_event *e)
{
	if (!owner_filter)
		bpf_ringbuf_submit(e, rb_flags());
	else if (bpf_ringbuf_output(&events, e, sizeof(*e), rb_flags()))
		count(RW_CNT_RB_FAIL);
}

/* -4/-6 and -P with the fewest reads: the segment's header, or else the socket's ports */
static __always_inline bool addr_wanted(const struct sock *sk, const struct sk_buff *skb)
{
	__u16 fam, a, b;

	if (!filter_family && !filter_nports)
		return true;
	if (skb) {
		unsigned char *head = BPF_CORE_READ(skb, head);
		__u16 ports[2] = {};
		__u8 ver = 0;

		bpf_probe_read_kernel(&ver, 1, head + BPF_CORE_READ(skb, network_header));
		fam = (ver >> 4) == 6 ? AF_INET6 : AF_INET;
		bpf_probe_read_kernel(ports, sizeof(ports),
				      head + BPF_CORE_READ(skb, transport_header));
		a = bpf_ntohs(ports[0]);
		b = bpf_ntohs(ports[1]);
	} else {
		fam = BPF_CORE_READ(sk, __sk_common.skc_family);
		sk_ports(sk, BPF_CORE_READ(sk, __sk_common.skc_state), &a, &b);
	}
	if (filter_family && fam != filter_family)
		return false;
	return !filter_nports || port_wanted(a, b);
}

static __always_inline bool task_wanted(const struct rw_task *t, bool in_cgroup)
{
	if (filter_tgid && t->tgid != filter_tgid)
		return false;
	if (filter_comm_on && !comm_is(t->comm))
		return false;
	return !filter_cgroup || in_cgroup;
}

/* -p, --comm, -c: the owner, or the task that reset the socket (user space re-checks) */
static __always_inline bool owner_wanted(const struct rw_event *e)
{
	bool cur_in_cg = filter_cgroup && bpf_current_task_under_cgroup(&cgroup_filter, 0) == 1;

	if ((e->flags & RW_F_OWNER) && task_wanted(&e->owner, e->flags & RW_F_IN_CGROUP))
		return true;
	return task_wanted(&e->actor, cur_in_cg);
}

/*
 * A filtered-out IPv6 reset answering a segment still has to be noted, or the egress hook
 * would take its packet for netfilter's.
 */
static __always_inline void note_filtered(const struct sk_buff *skb, __u32 netns);

/* count the event under its evidence: what rw_classify() needs, nothing per connection */
static __always_inline int add_to_agg(void *ctx, const struct rw_event *e, bool need_stack)
{
	struct rw_agg_key k = {};
	__u64 one = 1, *v;

	k.type = e->type;
	k.netns = e->netns;
	k.flags = e->flags;
	k.reason = e->reason;
	k.stackid = need_stack ? bpf_get_stackid(ctx, &stacks, 0) : -1;
	if (k.stackid >= 0)
		k.flags |= RW_F_STACK;
	k.family = e->family;
	/*
	 * A client socket's local port is ephemeral: counting per ephemeral port would make a
	 * key per connection and let the LRU evict counts. Such sockets count under the port
	 * they talk to instead.
	 */
	k.lport = e->type == RW_EV_RECV ? e->dport : e->sport;
	if (e->flags & RW_F_CLIENT) {
		k.rport = e->type == RW_EV_RECV ? e->sport : e->dport;
		k.lport = 0;
	}
	k.state = e->state;
	k.prev_state = e->prev_state;
	k.tw_substate = e->tw_substate;
	k.in_flags = e->in_flags & 0x17;	/* FIN SYN RST ACK */
	k.has_payload = e->in_payload > 0;
	k.has_unread = (e->flags & RW_F_FULLSOCK) && e->rcv_nxt != e->copied_seq;
	k.linger0 = (e->flags & RW_F_LINGER) && !e->lingertime;
	k.linger2_neg = e->linger2 < 0;
	k.owner_src = e->owner_src;
	/* per process, not per thread: fewer keys */
	if (e->flags & RW_F_OWNER) {
		k.owner = e->owner;
		k.owner.pid = k.owner.tgid;
		k.cgroup_id = e->cgroup_id;
		__builtin_memset(k.owner.thread, 0, sizeof(k.owner.thread));
	}
	if (!(e->flags & RW_F_SKB) && e->type == RW_EV_SENT) {
		k.actor = e->actor;
		k.actor.pid = k.actor.tgid;
		__builtin_memset(k.actor.thread, 0, sizeof(k.actor.thread));
	}
	v = bpf_map_lookup_elem(&agg, &k);
	if (v)
		*v += 1;
	else
		bpf_map_update_elem(&agg, &k, &one, BPF_NOEXIST);
	return 0;
}

/*
 * -u: the user stack of the task sending an active reset. Whether that task decided it
 * (close, shutdown, ss -K) or merely ran the timer is the classifier's business: a record is
 * taken for every active reset of a task with a user address space.
 */
static __noinline int capture_ustack(void *ctx, const struct sock *sk)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs;
	struct rw_ustack *u;
	__u64 id, base;
	__u32 first;

	if (!task->mm)
		return 0;
	/* a flood of them must not crowd out the events themselves */
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >
	    bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 2) {
		count(RW_CNT_USTACK_SKIP);
		return 0;
	}
	u = bpf_ringbuf_reserve(&events, sizeof(*u), 0);
	if (!u) {
		count(RW_CNT_USTACK_SKIP);
		return 0;
	}
	id = bpf_get_current_pid_tgid();
	u->type = RW_EV_USTACK;
	u->tid = (__u32)id;
	u->tgid = id >> 32;
	u->skaddr = (__u64)sk;
	u->ts_ns = bpf_ktime_get_ns();
	u->pad = 0;
	u->ips_len = bpf_get_stack(ctx, u->ips, sizeof(u->ips), BPF_F_USER_STACK);
	__builtin_memset(u->regs, 0, sizeof(u->regs));
	u->stack_start = 0;
	u->stack_len = 0;
#if defined(__TARGET_ARCH_x86)
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	u->regs[0] = regs->ax;
	u->regs[1] = regs->dx;
	u->regs[2] = regs->cx;
	u->regs[3] = regs->bx;
	u->regs[4] = regs->si;
	u->regs[5] = regs->di;
	u->regs[6] = regs->bp;
	u->regs[7] = regs->sp;
	u->regs[8] = regs->r8;
	u->regs[9] = regs->r9;
	u->regs[10] = regs->r10;
	u->regs[11] = regs->r11;
	u->regs[12] = regs->r12;
	u->regs[13] = regs->r13;
	u->regs[14] = regs->r14;
	u->regs[15] = regs->r15;
	u->regs[16] = regs->ip;
	/*
	 * The rest of the stack pointer's page, then the next page: each read is within one
	 * page, so that the end of the stack's mapping costs only the part beyond it. Every
	 * byte copied is paid on each event: call frame information is needed for the frames
	 * near the top (the C library's), frame pointers do the rest.
	 */
	base = regs->sp;
	u->stack_start = base;
	first = 4096 - (base & 4095);
	if (!bpf_probe_read_user(u->stack, first, (void *)base)) {
		u->stack_len = first;
		if (!bpf_probe_read_user(u->stack + first, 4096, (void *)(base + first)))
			u->stack_len += 4096;
	}
#else
	(void)regs;
	(void)base;
	(void)first;
#endif
	/* symbolized while the process lives: wake the reader now */
	bpf_ringbuf_submit(u, BPF_RB_FORCE_WAKEUP);
	return 0;
}

static __always_inline int on_send_reset(void *ctx, const struct sock *sk,
					 const struct sk_buff *skb, __u32 reason, bool has_reason,
					 bool btf)
{
	struct rw_event *e;
	__u32 netns;

	netns = sk ? sk_netns(sk) : skb ? skb_netns(skb) : 0;
	if (filter_netns && netns != filter_netns)
		return 0;
	if (kfilter) {
		count_ns_seen(netns);
		if (drop_stack_sent || !addr_wanted(sk, skb)) {
			note_filtered(skb, netns);
			return 0;
		}
	}
	if (!owner_filter)
		count(RW_CNT_SENT);

	/* its record comes before the event's (an owner filter builds the event aside first) */
	if (want_ustack && !skb && !aggregate && !owner_filter)
		capture_ustack(ctx, sk);
	e = new_event();
	if (!e)
		return 0;
	/* the record is written field by field; clear what may be left unset */
	__builtin_memset(e, 0, __builtin_offsetof(struct rw_event, stack));
	e->type = RW_EV_SENT;
	e->ts_ns = bpf_ktime_get_ns();
	e->skaddr = (__u64)sk;
	e->netns = netns;
	if (has_reason) {
		e->flags |= RW_F_REASON;
		e->reason = reason;
	}
	if (sk)
		read_sock(e, sk, btf);
	if (skb)
		read_skb(e, skb);
	fill_task(&e->actor);
	/* before 6.x IPv6 resets leave with no skb->sk even when a socket answered */
	if (skb && e->family == AF_INET6 && !no_egress_watch)
		note_stack_rst(e);
	if (owner_filter) {
		if (!owner_wanted(e))
			return 0;
		count(RW_CNT_SENT);
		if (want_ustack && !skb && !aggregate)
			capture_ustack(ctx, sk);
	}
	/*
	 * The stack is needed to tell apart the active resets (close, disconnect, listener close,
	 * ss -K, timers all say TCP_STATE or nothing) and resets on a listener; passive resets on
	 * other sockets are decided by the reason, the state and the segment.
	 */
	if (aggregate)
		return add_to_agg(ctx, e, !skb || !has_reason || (e->flags & RW_F_REQSK) ||
				  e->state == TCP_LISTEN);
	if (want_stacks || !skb || !has_reason ||
	    (e->flags & RW_F_REQSK) || e->state == TCP_LISTEN) {
		e->stack_len = bpf_get_stack(ctx, e->stack, sizeof(e->stack), 0);
		if (e->stack_len > 0)
			e->flags |= RW_F_STACK;
	} else {
		e->stack_len = 0;
	}
	submit_event(e);
	return 0;
}

static __always_inline void note_filtered(const struct sk_buff *skb, __u32 netns)
{
	struct rw_event *e;
	__u32 zero = 0;

	if (!skb || no_egress_watch || filter_family == AF_INET)
		return;
	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return;
	e->family = 0;
	read_skb(e, skb);
	if (e->family != AF_INET6)
		return;
	e->netns = netns;
	note_stack_rst(e);
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(rw_send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	__u32 reason = 0;

	if (passive_by_hook && skb)
		return 0;
	if (reason_arg)
		reason = (__u32)ctx[2];
	return on_send_reset(ctx, sk, skb, reason, reason_arg, true);
}

SEC("raw_tp/tcp_send_reset")
int BPF_PROG(rw_send_reset_raw, const struct sock *sk, const struct sk_buff *skb)
{
	__u32 reason = 0;

	if (passive_by_hook && skb)
		return 0;
	if (reason_arg)
		reason = (__u32)ctx[2];
	return on_send_reset(ctx, sk, skb, reason, reason_arg, false);
}

/* classic tracepoints: the record's first fields are the same on every kernel since 4.15 */
struct tp_sk_skb {
	__u64 common;
	const void *skbaddr;
	const void *skaddr;
};

struct tp_sk {
	__u64 common;
	const void *skaddr;
};

struct tp_set_state {
	__u64 common;
	const void *skaddr;
	int oldstate;
	int newstate;
};

SEC("tracepoint/tcp/tcp_send_reset")
int rw_send_reset_tp(struct tp_sk_skb *ctx)
{
	const struct sk_buff *skb = ctx->skbaddr;

	if (passive_by_hook && skb)
		return 0;
	return on_send_reset(ctx, ctx->skaddr, skb, 0, false, false);
}

SEC("tracepoint/sock/inet_sock_set_state")
int rw_set_state_tp(struct tp_set_state *ctx)
{
	return on_set_state(ctx->skaddr, ctx->oldstate, ctx->newstate, false);
}

SEC("tracepoint/tcp/tcp_destroy_sock")
int rw_destroy_tp(struct tp_sk *ctx)
{
	return on_destroy(ctx->skaddr);
}

/*
 * tcp_v4_send_reset / tcp_v6_send_reset are also called when no RST goes out: repeat their
 * first checks so that only RSTs really sent are reported.
 */
#define RTN_LOCAL	2
#define RTF_LOCAL	0x80000000

static __always_inline bool incoming_rst(const struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 th = BPF_CORE_READ(skb, transport_header);
	__u8 flags = 0;

	bpf_probe_read_kernel(&flags, 1, head + th + 13);
	return flags & TF_RST;
}

static __always_inline bool v4_reset_sent(const struct sock *sk, const struct sk_buff *skb)
{
	struct rtable *rt;

	/* never a reset in answer to a reset */
	if (incoming_rst(skb))
		return false;
	/* no socket: only for segments routed to this host */
	if (!sk) {
		rt = (struct rtable *)(BPF_CORE_READ(skb, _skb_refdst) & ~1UL);
		if (!rt || BPF_CORE_READ(rt, rt_type) != RTN_LOCAL)
			return false;
	}
	return true;
}

static __always_inline bool v6_reset_sent(const struct sk_buff *skb)
{
	struct rt6_info *rt;

	if (incoming_rst(skb))
		return false;
	/* ipv6_unicast_destination() */
	rt = (struct rt6_info *)(BPF_CORE_READ(skb, _skb_refdst) & ~1UL);
	return rt && (BPF_CORE_READ(rt, rt6i_flags) & RTF_LOCAL);
}

SEC("fentry/tcp_v4_send_reset")
int BPF_PROG(rw_v4_reset_fentry, const struct sock *sk, struct sk_buff *skb)
{
	__u32 reason = hook_has_reason ? (__u32)ctx[2] : 0;

	if (!v4_reset_sent(sk, skb))
		return 0;
	return on_send_reset(ctx, sk, skb, reason, hook_has_reason, true);
}

SEC("fentry/tcp_v6_send_reset")
int BPF_PROG(rw_v6_reset_fentry, const struct sock *sk, struct sk_buff *skb)
{
	__u32 reason = hook_has_reason ? (__u32)ctx[2] : 0;

	if (!v6_reset_sent(skb))
		return 0;
	return on_send_reset(ctx, sk, skb, reason, hook_has_reason, true);
}

SEC("kprobe/tcp_v4_send_reset")
int BPF_KPROBE(rw_v4_reset_kprobe, const struct sock *sk, struct sk_buff *skb)
{
	__u32 reason = hook_has_reason ? (__u32)PT_REGS_PARM3(ctx) : 0;

	if (!v4_reset_sent(sk, skb))
		return 0;
	return on_send_reset(ctx, sk, skb, reason, hook_has_reason, false);
}

SEC("kprobe/tcp_v6_send_reset")
int BPF_KPROBE(rw_v6_reset_kprobe, const struct sock *sk, struct sk_buff *skb)
{
	__u32 reason = hook_has_reason ? (__u32)PT_REGS_PARM3(ctx) : 0;

	if (!v6_reset_sent(skb))
		return 0;
	return on_send_reset(ctx, sk, skb, reason, hook_has_reason, false);
}

static __always_inline int on_receive_reset(void *ctx, const struct sock *sk, bool btf)
{
	struct rw_event *e;
	__u32 netns;

	if (!want_recv || !sk)
		return 0;
	netns = sk_netns(sk);
	if (filter_netns && netns != filter_netns)
		return 0;
	if (kfilter && (drop_recv || !addr_wanted(sk, NULL)))
		return 0;
	e = new_event();
	if (!e)
		return 0;
	__builtin_memset(e, 0, __builtin_offsetof(struct rw_event, stack));
	e->type = RW_EV_RECV;
	e->ts_ns = bpf_ktime_get_ns();
	e->skaddr = (__u64)sk;
	read_sock(e, sk, btf);
	/* a received RST travels the other way: the peer is its source */
	{
		__u8 tmp[16];
		__u16 p = e->sport;

		__builtin_memcpy(tmp, e->saddr, 16);
		__builtin_memcpy(e->saddr, e->daddr, 16);
		__builtin_memcpy(e->daddr, tmp, 16);
		e->sport = e->dport;
		e->dport = p;
	}
	fill_task(&e->actor);
	if (owner_filter && !owner_wanted(e))
		return 0;
	count(RW_CNT_RECV);
	if (aggregate)
		return add_to_agg(ctx, e, false);
	if (want_stacks) {
		e->stack_len = bpf_get_stack(ctx, e->stack, sizeof(e->stack), 0);
		if (e->stack_len > 0)
			e->flags |= RW_F_STACK;
	} else {
		e->stack_len = 0;
	}
	submit_event(e);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(rw_recv_reset, struct sock *sk)
{
	return on_receive_reset(ctx, sk, true);
}

SEC("raw_tp/tcp_receive_reset")
int BPF_PROG(rw_recv_reset_raw, struct sock *sk)
{
	return on_receive_reset(ctx, sk, false);
}

SEC("tracepoint/tcp/tcp_receive_reset")
int rw_recv_reset_tp(struct tp_sk *ctx)
{
	return on_receive_reset(ctx, (struct sock *)ctx->skaddr, false);
}

#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86DD
#define AF_PACKET	17
#define SOCK_RAW	3

/*
 * Every packet leaving through any device in any namespace passes here: keep the non-RST
 * path to a few loads. RSTs the TCP stack built were already reported by tcp_send_reset and
 * are only passed on when their bytes are wanted (pcapng); forwarded RSTs (skb_iif set: they
 * came in through a device) are a router's business, not this host's decision.
 */
static __always_inline bool egress_wanted(const unsigned char *th, __u16 proto, __u32 kind)
{
	struct rw_task t;
	__u16 ports[2] = {};

	if (drop_egress_kinds & (1u << kind))
		return false;
	if (filter_family && filter_family != (proto == ETH_P_IP ? AF_INET : AF_INET6))
		return false;
	if (filter_nports) {
		bpf_probe_read_kernel(ports, sizeof(ports), th);
		if (!port_wanted(bpf_ntohs(ports[0]), bpf_ntohs(ports[1])))
			return false;
	}
	/* the stack's own packets pair with events filtered already; others have no owner */
	if (!owner_filter || kind == RW_EG_STACK)
		return true;
	if (kind != RW_EG_RAW && kind != RW_EG_PACKET)
		return false;
	/* built by a process in its own sendmsg(): it is owner and actor */
	fill_task(&t);
	return task_wanted(&t, owner_in_cgroup());
}

static __always_inline int on_dev_queue(const struct sk_buff *skb, bool btf)
{
	__u16 proto = bpf_ntohs(SK_READ(btf, skb, protocol));
	unsigned char *head;
	__u16 nh, off;
	/* the IP header and the TCP header up to its flags in one read (no IP options) */
	__u8 ipb[56], tflags;
	const struct sock *sk;
	struct rw_pkt *p;
	__u32 netns, kind, len, cap;

	if (proto != ETH_P_IP && proto != ETH_P_IPV6)
		return 0;
	head = SK_READ(btf, skb, head);
	nh = SK_READ(btf, skb, network_header);
	if (bpf_probe_read_kernel(ipb, sizeof(ipb), head + nh))
		return 0;
	if (proto == ETH_P_IP) {
		if ((ipb[0] >> 4) != 4 || ipb[9] != IPPROTO_TCP)
			return 0;
		off = (ipb[0] & 0xf) * 4;
	} else {
		/* no extension headers: a RST built by anyone carries none */
		if ((ipb[0] >> 4) != 6 || ipb[6] != IPPROTO_TCP)
			return 0;
		off = 40;
	}
	/* constant indexes: older verifiers refuse a variable offset into the stack */
	if (off == 20)
		tflags = ipb[33];
	else if (off == 40)
		tflags = ipb[53];
	else if (bpf_probe_read_kernel(&tflags, 1, head + nh + off + 13))
		return 0;
	if (!(tflags & TF_RST))
		return 0;
	if (BPF_CORE_READ(skb, skb_iif))
		return 0;

	sk = BPF_CORE_READ(skb, sk);
	kind = RW_EG_NETFILTER;
	if (!sk && proto == ETH_P_IPV6) {
		struct stack_rst_key k = {};
		__be32 w[2];

		k.netns = BPF_CORE_READ(skb, dev, nd_net.net, ns.inum);
		bpf_probe_read_kernel(w, 4, head + nh + off);
		k.sport = bpf_ntohs(((__u16 *)w)[0]);
		k.dport = bpf_ntohs(((__u16 *)w)[1]);
		bpf_probe_read_kernel(w, 8, head + nh + off + 4);
		k.seq = bpf_ntohl(w[0]);
		k.ack = (tflags & TF_ACK) ? bpf_ntohl(w[1]) : 0;
		__builtin_memcpy(k.saddr, ipb + 8, 16);
		__builtin_memcpy(k.daddr, ipb + 24, 16);
		if (bpf_map_lookup_elem(&stack_rsts, &k)) {
			bpf_map_delete_elem(&stack_rsts, &k);
			kind = RW_EG_STACK;
		} else if (v6_nosk_ambiguous) {
			/* the send-reset hook cannot see these here: netfilter or the stack */
			kind = RW_EG_AMBIGUOUS;
		}
	}
	if (sk) {
		__u16 skfam = BPF_CORE_READ(sk, __sk_common.skc_family);
		__u8 st = BPF_CORE_READ(sk, __sk_common.skc_state);
		__u16 type = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type);
		__u16 sproto = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
		__u8 kern = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_kern_sock);

		if ((st == TCP_TIME_WAIT || st == TCP_NEW_SYN_RECV) &&
		    (skfam == AF_INET || skfam == AF_INET6))
			kind = RW_EG_STACK;	/* a timewait or request socket: not a full sock */
		else if (skfam == AF_PACKET)
			kind = RW_EG_PACKET;
		else if (sproto == IPPROTO_TCP && (type != SOCK_RAW || kern))
			kind = RW_EG_STACK;	/* a connection's socket or the per-CPU control socket */
		else if (type == SOCK_RAW && !kern)
			kind = RW_EG_RAW;
		else
			kind = RW_EG_OTHER;
	}
	if (kind == RW_EG_STACK && !egress_stack_pkts)
		return 0;
	netns = BPF_CORE_READ(skb, dev, nd_net.net, ns.inum);
	if (filter_netns && netns != filter_netns)
		return 0;
	if (kfilter && !egress_wanted(head + nh + off, proto, kind))
		return 0;
	count(RW_CNT_EGRESS);

	p = bpf_ringbuf_reserve(&events, sizeof(*p), 0);
	if (!p) {
		count(RW_CNT_RB_FAIL);
		return 0;
	}
	__builtin_memset(p, 0, __builtin_offsetof(struct rw_pkt, data));
	p->type = RW_EV_EGRESS;
	p->kind = kind;
	p->ts_ns = bpf_ktime_get_ns();
	p->skaddr = (__u64)sk;
	p->netns = netns;
	p->ifindex = BPF_CORE_READ(skb, dev, ifindex);
	p->family = proto == ETH_P_IP ? AF_INET : AF_INET6;
	if (sk) {
		p->sk_family = BPF_CORE_READ(sk, __sk_common.skc_family);
		p->sk_type = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type);
		p->sk_protocol = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	}
	/* skb->len counts from skb->data, which may sit at the link-layer header */
	len = BPF_CORE_READ(skb, len) - (nh - (BPF_CORE_READ(skb, data) - head));
	p->len = len;
	cap = len > RW_PKT_SNAP ? RW_PKT_SNAP : len;
	/*
	 * A fixed-size read keeps the verifier simple; past the packet's end it reads the skb's
	 * tailroom, which caplen leaves out. At a page end fall back to the 60 bytes a bare RST
	 * with options can need.
	 */
	if (bpf_probe_read_kernel(p->data, RW_PKT_SNAP, head + nh)) {
		if (bpf_probe_read_kernel(p->data, 60, head + nh))
			cap = 0;
		else if (cap > 60)
			cap = 60;
	}
	p->caplen = cap;
	fill_task(&p->actor);
	bpf_ringbuf_submit(p, rb_flags());
	return 0;
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(rw_dev_queue, struct sk_buff *skb)
{
	return on_dev_queue(skb, true);
}

SEC("raw_tp/net_dev_queue")
int BPF_PROG(rw_dev_queue_raw, struct sk_buff *skb)
{
	return on_dev_queue(skb, false);
}

SEC("tracepoint/net/net_dev_queue")
int rw_dev_queue_tp(struct tp_sk *ctx)
{
	return on_dev_queue((const struct sk_buff *)ctx->skaddr, false);
}

/* ---- owners of the sockets that existed before rstwhy started --------------------------------- */

/*
 * Run once at start, after the hooks are attached: a BPF iterator over every process's open
 * files (iter/task_file, Linux 5.8+) records each TCP socket's holder. With socket-local
 * storage the record goes into the socket's own storage (as the hooks would write it, marked
 * seeded); otherwise by 4-tuple into tuple_owners. Listening sockets also go into listeners.
 * User space reads two of them at once (even and odd descriptors, one thread each): no /proc
 * text, no system call per descriptor. A record the hooks wrote since they were attached stays.
 */
const volatile __u64 seed_cgroup_id = 0;	/* -c: the cgroup v2 directory's id (its inode) */

#define S_IFMT		00170000
#define S_IFSOCK	0140000
#define SOCK_STREAM	1
#define CGROUP_MAX_DEPTH 64

/* -c: whether the task's cgroup v2 is seed_cgroup_id or below it */
static __always_inline bool task_in_cgroup(struct task_struct *task)
{
	struct cgroup *cg = BPF_CORE_READ(task, cgroups, dfl_cgrp);

	for (int i = 0; i < CGROUP_MAX_DEPTH && cg; i++) {
		struct cgroup_subsys_state *parent;

		if (BPF_CORE_READ(cg, kn, id) == seed_cgroup_id)
			return true;
		/* a cgroup starts with its own css: the parent css is the parent cgroup */
		parent = BPF_CORE_READ(cg, self.parent);
		cg = parent ? (void *)parent - bpf_core_field_offset(struct cgroup, self) : NULL;
	}
	return false;
}

/* the holder, as /proc would name it: the process, no thread */
static __always_inline void seed_task(struct owner_rec *o, struct task_struct *task, bool btf)
{
	o->owner.tgid = o->owner.pid = SK_READ(btf, task, tgid);
	BPF_CORE_READ_INTO(&o->owner.comm, task, group_leader, comm);
	if (btf)
		o->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	else
		o->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	o->in_cgroup = seed_cgroup_id && task_in_cgroup(task);
	o->src = RW_OWN_PROCFS;
}

/*
 * With socket-local storage (5.11+) the socket comes as a BTF pointer (bpf_sock_from_file, as
 * the storage wants it) and is read with plain loads; otherwise through
 * bpf_probe_read_kernel: a socket's file points at its struct socket.
 */
static __always_inline struct sock *seed_sock(struct file *file, bool btf)
{
	struct socket *sock;

	if (btf) {
		if ((file->f_inode->i_mode & S_IFMT) != S_IFSOCK)
			return NULL;
		sock = bpf_sock_from_file(file);
		return sock ? sock->sk : NULL;
	}
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	return BPF_CORE_READ(sock, sk);
}

static __always_inline int seed_one(struct bpf_iter__task_file *ctx, bool btf, int shard)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct owner_rec o = {};
	const char *out = "f";	/* one byte per socket out: f failed, l listener, s socket */
	struct sock *sk;
	__u32 netns;
	__u8 state;

	/* two walks at once, one per half of the descriptors: each socket costs cache misses */
	if (!task || !file || (ctx->fd & 1) != shard)
		return 0;
	sk = seed_sock(file, btf);
	/* TCP only: a raw socket may carry IPPROTO_TCP too */
	if (!sk || !sk_is_tcp_inet(sk, btf))
		return 0;
	if ((btf ? BPF_CORE_READ_BITFIELD(sk, sk_type) :
		   BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type)) != SOCK_STREAM)
		return 0;
	netns = btf ? sk->__sk_common.skc_net.net->ns.inum : sk_netns(sk);
	if (filter_netns && netns != filter_netns)
		return 0;
	seed_task(&o, task, btf);

	state = SK_READ(btf, sk, __sk_common.skc_state);
	if (state == TCP_LISTEN) {
		struct listener_key lk = {};

		lk.netns = netns;
		lk.family = SK_READ(btf, sk, __sk_common.skc_family);
		lk.port = SK_READ(btf, sk, __sk_common.skc_num);
		/* shared by a pre-forking server: the first holder (the parent) stays */
		out = bpf_map_update_elem(&listeners, &lk, &o, BPF_NOEXIST) ? "-" : "l";
	} else if (btf) {
		struct sk_info *cur = bpf_sk_storage_get(&sk_owners, sk, 0,
							 BPF_SK_STORAGE_GET_F_CREATE);

		if (!cur) {
			out = "f";
		} else if (cur->has_owner) {
			out = "-";
		} else {
			/* held twice (dup, fork): either holder is right */
			cur->owner = o.owner;
			cur->cgroup_id = o.cgroup_id;
			cur->in_cgroup = o.in_cgroup;
			cur->seeded = 1;
			cur->has_owner = 1;
			out = "s";
		}
	} else {
		struct tuple_key k = {};

		sk_tuple(sk, &k);
		k.netns = netns;
		out = bpf_map_update_elem(&tuple_owners, &k, &o, BPF_ANY) ? "f" : "s";
	}
	/*
	 * Counted in user space (no shared counter for two CPUs to fight over); and a read()
	 * that produced nothing for a million files would end with EAGAIN.
	 */
	bpf_seq_write(ctx->meta->seq, out, 1);
	return 0;
}

SEC("iter/task_file")
int rw_seed_even(struct bpf_iter__task_file *ctx)
{
	return use_sk_storage ? seed_one(ctx, true, 0) : seed_one(ctx, false, 0);
}

SEC("iter/task_file")
int rw_seed_odd(struct bpf_iter__task_file *ctx)
{
	return use_sk_storage ? seed_one(ctx, true, 1) : seed_one(ctx, false, 1);
}
