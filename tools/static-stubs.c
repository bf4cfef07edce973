// SPDX-License-Identifier: GPL-2.0
/*
 * Linked into the static rstwhy only (make static, for the kernel matrix's guests).
 *
 * libpcap.a brings libdbus-1.a for its D-Bus capture source, which rstwhy never opens, and
 * libdbus-1.a refers to two libsystemd functions (socket activation of a D-Bus server). Debian
 * ships no libsystemd.a: these weak stand-ins satisfy the linker; a real libsystemd, if one is
 * ever linked, wins over them.
 */
#include <errno.h>

__attribute__((weak)) int sd_listen_fds(int unset_environment)
{
	(void)unset_environment;
	return 0;	/* no sockets passed by systemd */
}

__attribute__((weak)) int sd_is_socket(int fd, int family, int type, int listening)
{
	(void)fd;
	(void)family;
	(void)type;
	(void)listening;
	return -ENOSYS;
}
