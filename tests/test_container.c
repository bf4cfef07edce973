// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for container_parse(): cgroup v2 paths as each runtime makes them (systemd and
 * cgroupfs drivers), conmon scopes, Kubernetes pods, systemd units, and paths that name
 * nothing. Output: "ok N - name" / "not ok N - name" lines.
 */
#include <stdio.h>
#include <string.h>
#include "container.h"

static int n, failed;

#define ID "3f1c0a9be2d84c7a96e5b1d07c28f4e6a9b3d5c7e1f20486a8c6e4b2d0f1e3a5"
#define UID "8d2c1f7e-4b3a-4c5d-9e8f-0a1b2c3d4e5f"
#define UID_ "8d2c1f7e_4b3a_4c5d_9e8f_0a1b2c3d4e5f"

static void expect(const char *path, const char *runtime, const char *id, const char *pod,
		   const char *shrt)
{
	struct container c;
	char s[80];

	snprintf(c.cgroup, sizeof(c.cgroup), "%s", path);
	container_parse(&c);
	container_short(&c, s, sizeof(s));
	n++;
	if (!strcmp(c.runtime, runtime) && !strcmp(c.id, id) && !strcmp(c.pod_uid, pod) &&
	    !strcmp(s, shrt)) {
		printf("ok %d - %s\n", n, path);
		return;
	}
	failed++;
	printf("not ok %d - %s\n# got runtime='%s' id='%s' pod='%s' short='%s'; want '%s' '%s' "
	       "'%s' '%s'\n", n, path, c.runtime, c.id, c.pod_uid, s, runtime, id, pod, shrt);
}

int main(void)
{
	expect("/system.slice/docker-" ID ".scope", "docker", ID, "", "docker:3f1c0a9be2d8");
	expect("/docker/" ID, "docker", ID, "", "docker:3f1c0a9be2d8");
	expect("/machine.slice/libpod-" ID ".scope", "podman", ID, "", "podman:3f1c0a9be2d8");
	expect("/machine.slice/libpod-" ID ".scope/container", "podman", ID, "",
	       "podman:3f1c0a9be2d8");
	expect("/libpod_parent/libpod-" ID, "podman", ID, "", "podman:3f1c0a9be2d8");
	expect("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID ".scope",
	       "podman", ID, "", "podman:3f1c0a9be2d8");
	/* conmon watches a container from outside it */
	expect("/machine.slice/libpod-conmon-" ID ".scope", "systemd",
	       "libpod-conmon-" ID ".scope", "", "systemd:libpod-conmon-3f1c0a9be2d84c7a96e5b1d07c28f4e6a9");
	expect("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice/"
	       "cri-containerd-" ID ".scope", "containerd", ID, UID, "containerd:3f1c0a9be2d8");
	expect("/kubepods.slice/kubepods-pod" UID_ ".slice/crio-" ID ".scope", "cri-o", ID, UID,
	       "cri-o:3f1c0a9be2d8");
	expect("/kubepods/besteffort/pod" UID "/" ID, "cri", ID, UID, "cri:3f1c0a9be2d8");
	expect("/kubepods/burstable/pod" UID "/crio-" ID, "cri-o", ID, UID, "cri-o:3f1c0a9be2d8");
	/* a pod's own slice, no container yet (the pause process, or pod-level cgroup) */
	expect("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_ ".slice",
	       "", "", UID, "cgroup");
	expect("/system.slice/nginx.service", "systemd", "nginx.service", "",
	       "systemd:nginx.service");
	expect("/user.slice/user-1000.slice/session-4.scope", "systemd", "session-4.scope", "",
	       "systemd:session-4.scope");
	/* systemd inside a container: the container is what names it */
	expect("/system.slice/docker-" ID ".scope/system.slice/nginx.service", "docker", ID, "",
	       "docker:3f1c0a9be2d8");
	expect("/", "", "", "", "cgroup");
	expect("/user.slice", "", "", "", "cgroup");
	/* not ids: wrong length, upper case, a conmon-like prefix */
	expect("/docker/" "3F1C0A9BE2D84C7A96E5B1D07C28F4E6A9B3D5C7E1F20486A8C6E4B2D0F1E3A5", "", "",
	       "", "cgroup");
	expect("/system.slice/docker-3f1c0a9b.scope", "systemd", "docker-3f1c0a9b.scope", "",
	       "systemd:docker-3f1c0a9b.scope");
	expect("/kubepods/podnot-a-uid/x", "", "", "", "cgroup");
	printf("1..%d\n", n);
	return failed ? 1 : 0;
}
