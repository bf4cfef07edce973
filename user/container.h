/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which container a socket's owner runs in: its cgroup v2 id (recorded in the kernel) to the
 * cgroup path, and what the path says about the runtime, the container id and the Kubernetes
 * pod.
 */
#ifndef RW_CONTAINER_H
#define RW_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>

#define CT_PATH_MAX 512

struct container {
	char cgroup[CT_PATH_MAX];	/* "/machine.slice/libpod-ID.scope", relative to the root */
	char runtime[16];	/* docker, containerd, cri-o, podman, cri, systemd; "" unknown */
	char id[256];		/* the container id (64 hex), or the systemd unit's name */
	char pod_uid[40];	/* Kubernetes pod UID, "" if none */
};

/*
 * Fill runtime, id and pod_uid from c->cgroup alone (pure: no file is read). The innermost
 * container in the path wins over the systemd unit that holds it; conmon's own scopes
 * (libpod-conmon-ID, crio-conmon-ID) are not containers.
 */
void container_parse(struct container *c);

/* a short, bounded form for tables and labels: "podman:0123456789ab", "systemd:x.service" */
void container_short(const struct container *c, char *buf, int len);

/*
 * The container of a cgroup id, NULL if the id is 0 or its cgroup is unknown (gone, or no
 * cgroup v2 mounted). The path is found with open_by_handle_at() (CAP_DAC_READ_SEARCH), or
 * else in a cache built by walking the cgroup v2 mount, walked again on a miss (at most once
 * a second). Results are cached; the pointer stays valid until container_free().
 */
const struct container *container_of(uint64_t cgroup_id);
void container_free(void);

#endif
