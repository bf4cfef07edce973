/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Records shared by the BPF programs and user space. Fixed-width fields only; every record
 * starts with a type tag.
 */
#ifndef RSTWHY_H
#define RSTWHY_H

#define RW_COMM_LEN	16
#define RW_MAX_STACK	24

/* record types */
enum rw_ev_type {
	RW_EV_SENT = 1,		/* the TCP stack sent a RST */
	RW_EV_RECV = 2,		/* a socket received a RST */
	RW_EV_EGRESS = 3,	/* a RST leaving through a device (struct rw_pkt) */
	RW_EV_USTACK = 4,	/* user stack of the task sending an active RST (struct rw_ustack) */
};

/* who built a RST seen at egress (rw_pkt.kind) */
enum rw_egress_kind {
	RW_EG_STACK = 1,	/* the TCP stack (control socket or the connection's own socket) */
	RW_EG_NETFILTER = 2,	/* no socket, generated on this host: netfilter REJECT */
	RW_EG_RAW = 3,		/* a raw IP socket of a process */
	RW_EG_PACKET = 4,	/* an AF_PACKET socket of a process */
	RW_EG_OTHER = 5,	/* some other socket (e.g. a kernel tunnel) */
	RW_EG_AMBIGUOUS = 6,	/* IPv6, no socket, and the stack's own could not be noted */
};

/* TCP header flag bits (byte 13 of the header), for the BPF programs and user space alike */
#define TF_FIN 0x01
#define TF_SYN 0x02
#define TF_RST 0x04
#define TF_PSH 0x08
#define TF_ACK 0x10
#define TF_URG 0x20

/*
 * The RST that answers a segment (RFC 793 section 3.4): if the segment carries an ACK, the
 * RST's sequence number is that ACK and it has no ACK of its own; otherwise seq is 0 and it
 * acknowledges the whole segment (payload, plus one each for SYN and FIN). Returns the RST's
 * flags. A macro on plain integers, so the BPF programs and user space share it.
 */
#define RW_RST_ANSWER(in_flags, in_seq, in_ack, in_payload, seq, ack)			\
	(((in_flags) & TF_ACK) ?							\
	 ((seq) = (in_ack), (ack) = 0, TF_RST) :					\
	 ((seq) = 0, (ack) = (in_seq) + (in_payload) + !!((in_flags) & TF_SYN) +	\
		  !!((in_flags) & TF_FIN), TF_RST | TF_ACK))

#define RW_PKT_SNAP 128		/* bytes of the packet kept, from its network header */

/* rw_event.flags */
enum rw_ev_flags {
	RW_F_SK		= 1 << 0,	/* a socket was given */
	RW_F_FULLSOCK	= 1 << 1,	/* ... and it is a full socket */
	RW_F_TIMEWAIT	= 1 << 2,	/* ... a timewait socket */
	RW_F_SKB	= 1 << 3,	/* the incoming segment is known (passive reset) */
	RW_F_REASON	= 1 << 4,	/* the tracepoint carries sk_rst_reason */
	RW_F_OWNER	= 1 << 5,	/* owner is valid */
	RW_F_PREV_STATE	= 1 << 6,	/* prev_state is valid */
	RW_F_LINGER	= 1 << 7,	/* SOCK_LINGER set */
	RW_F_DEAD	= 1 << 8,	/* SOCK_DEAD: orphaned, the application closed it */
	RW_F_MPTCP	= 1 << 9,	/* an MPTCP subflow */
	RW_F_STACK	= 1 << 10,	/* stack[] holds stack_len bytes */
	RW_F_REQSK	= 1 << 11,	/* a request socket (SYN_RECV) was given */
	RW_F_CLIENT	= 1 << 12,	/* the socket was connect()ed: its local port is ephemeral */
	RW_F_IN_CGROUP	= 1 << 13,	/* -c: the owner was in the cgroup subtree */
};

/* where the owner came from */
enum rw_owner_src {
	RW_OWN_NONE = 0,
	RW_OWN_SOCKET = 1,	/* recorded on this socket in process context */
	RW_OWN_LISTENER = 2,	/* the listener on the local port */
	RW_OWN_TIMEWAIT = 3,	/* kept from the full socket by 4-tuple for its timewait stand-in */
	RW_OWN_PROCFS = 4,	/* the socket predates rstwhy: found in /proc at start */
};

/* per-CPU counters, index of the counters map */
enum rw_counter {
	RW_CNT_SENT = 0,	/* send_reset hook ran and the event passed the kernel's filters */
	RW_CNT_RECV,		/* receive_reset hook ran ... */
	RW_CNT_RB_FAIL,		/* ring buffer reservations that failed: lost events */
	RW_CNT_OWNER_SET,	/* owner records written */
	RW_CNT_EGRESS,		/* RSTs seen leaving (not forwarded) */
	RW_CNT_USTACK_SKIP,	/* -u: user stacks not taken, the ring buffer over half full */
	RW_CNT_NS_FULL,		/* RSTs not counted per namespace: the ns_seen map was full */
	RW_CNT_MAX,
};

struct rw_task {
	__u32 pid;		/* thread id */
	__u32 tgid;		/* process id */
	char comm[RW_COMM_LEN];
};

/* key of the 4-tuple owner map (timewait stand-ins, sockets found in /proc at start) */
struct rw_tuple_key {
	__u32 netns;
	__u16 family;
	__u16 lport;
	__u16 rport;
	__u16 pad;
	__u8 laddr[16];
	__u8 raddr[16];
};

/* key of the listener owner map */
struct rw_listener_key {
	__u32 netns;
	__u16 family;
	__u16 port;
};

struct rw_owner_rec {
	struct rw_task owner;
	__u64 cgroup_id;
	__u32 src;		/* enum rw_owner_src */
	__u16 client;		/* the socket was connect()ed */
	__u16 in_cgroup;	/* -c: the owner was in the cgroup subtree when recorded */
};

#define RW_MAX_PORTS 64		/* -P / -p ports filtered in the kernel */

struct rw_event {
	__u32 type;
	__u32 flags;
	__u64 ts_ns;		/* bpf_ktime_get_ns() */
	__u64 skaddr;
	__u64 cgroup_id;	/* owner's cgroup v2 id, 0 if unknown */
	__u32 netns;		/* network namespace inode */
	__u32 reason;		/* raw sk_rst_reason value (RW_F_REASON) */
	__u16 family;		/* AF_INET / AF_INET6 */
	__u16 sport;		/* the RST's own source port (this host), host order */
	__u16 dport;
	__u8 state;		/* sk_state when the hook ran (0: no socket) */
	__u8 prev_state;	/* state before the last move to CLOSE (RW_F_PREV_STATE) */
	__u8 saddr[16];		/* the RST's own source address (this host) */
	__u8 daddr[16];
	__u8 tw_substate;
	__u8 in_flags;		/* incoming segment's TCP flags (RW_F_SKB) */
	__u8 sk_shutdown;
	__u8 owner_src;		/* enum rw_owner_src */
	__u32 in_seq;		/* incoming segment, host order */
	__u32 in_ack;
	__u32 in_payload;
	__u32 snd_nxt;		/* full sockets */
	__u32 snd_una;
	__u32 rcv_nxt;
	__u32 copied_seq;
	__u32 write_seq;
	__s32 linger2;
	__u32 ack_backlog;	/* listener or socket */
	__u32 max_ack_backlog;
	__u32 user_timeout;
	__u64 lingertime;	/* jiffies */
	__u8 probes_out;
	__u8 pad[3];
	__s32 stack_len;	/* bytes in stack[] or negative error */
	struct rw_task owner;
	struct rw_task actor;	/* current task; user space decides whether it means anything */
	__u64 stack[RW_MAX_STACK];
};

/*
 * --summary/--prometheus without per-event output: events are counted in the kernel per
 * distinct evidence (what the classifier needs), so a storm costs no per-event user work.
 */
struct rw_agg_key {
	__u32 type;		/* RW_EV_SENT / RW_EV_RECV */
	__u32 netns;
	__u32 flags;		/* RW_F_* */
	__u32 reason;
	__s32 stackid;		/* in the stacks map; -1: none */
	__u16 family;
	__u16 lport;		/* this host's port, 0 for a client socket (RW_F_CLIENT) */
	__u16 rport;		/* a client socket's peer port: the service it talks to */
	__u16 pad2;
	__u8 state;
	__u8 prev_state;
	__u8 tw_substate;
	__u8 in_flags;
	__u8 has_payload;
	__u8 has_unread;
	__u8 linger0;		/* SO_LINGER on with time 0 */
	__u8 linger2_neg;	/* TCP_LINGER2 < 0 */
	__u8 owner_src;
	__u8 pad[3];
	struct rw_task owner;	/* pid = tgid */
	struct rw_task actor;	/* active resets only; pid = tgid */
};

/* a RST seen at egress (net:net_dev_queue): the packet itself and who built it */
struct rw_pkt {
	__u32 type;		/* RW_EV_EGRESS */
	__u32 kind;		/* enum rw_egress_kind */
	__u64 ts_ns;
	__u64 skaddr;		/* skb->sk */
	__u32 netns;		/* the device's namespace */
	__u32 ifindex;
	__u32 len;		/* bytes from the network header to the end of the packet */
	__u32 caplen;		/* bytes in data[] */
	__u16 family;
	__u16 sk_type;		/* SOCK_RAW, SOCK_STREAM, ... of skb->sk */
	__u16 sk_family;
	__u16 sk_protocol;
	struct rw_task actor;	/* current task */
	__u8 data[RW_PKT_SNAP];
};

/*
 * -u: the user-space side of an active reset, sent just before its rw_event (same skaddr and
 * thread). Frame-pointer return addresses as the kernel walks them, plus the registers and a
 * few kilobytes of the user stack from the stack pointer up, for unwinding with the ELF files'
 * call frame information in user space (code built without frame pointers).
 */
#define RW_USTACK_DEPTH	64
#define RW_USTACK_BYTES	8192	/* from the stack pointer: the rest of its page and the next one */
#define RW_USTACK_REGS	17	/* x86-64 DWARF numbering: rax rdx rcx rbx rsi rdi rbp rsp r8-r15 rip */

struct rw_ustack {
	__u32 type;		/* RW_EV_USTACK */
	__u32 tid;
	__u32 tgid;
	__s32 ips_len;		/* bytes in ips[] or negative error */
	__u64 skaddr;
	__u64 ts_ns;		/* bpf_ktime_get_ns(), before its event's */
	__u64 regs[RW_USTACK_REGS];	/* all zero: not available */
	__u64 stack_start;	/* user address of stack[0]: the stack pointer */
	__u32 stack_len;	/* bytes of stack[] copied */
	__u32 pad;
	__u64 ips[RW_USTACK_DEPTH];
	__u8 stack[RW_USTACK_BYTES];
};

#endif /* RSTWHY_H */
