/* Loaded into Janus (LD_PRELOAD) by benchmarks/janus_sip.py.
 *
 * Janus leaves out every interface flagged as loopback when it gathers ICE
 * candidates, and the benchmark runs it in a network namespace that has
 * only lo: it would find no address at all. This getifaddrs() reports the
 * 127.0.0.0/8 addresses of lo as an ordinary interface, so Janus offers
 * 127.0.0.1 (its ICE enforce list names only that address), as aioice is
 * made to for the aiortc peers.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

typedef int (*getifaddrs_fn)(struct ifaddrs **);

int getifaddrs(struct ifaddrs **list) {
	static getifaddrs_fn real = NULL;
	if(real == NULL)
		real = (getifaddrs_fn)dlsym(RTLD_NEXT, "getifaddrs");
	if(real == NULL)
		return -1;
	int result = real(list);
	if(result != 0)
		return result;
	for(struct ifaddrs *ifa = *list; ifa != NULL; ifa = ifa->ifa_next) {
		if(ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_INET)
			continue;
		const struct sockaddr_in *in = (const struct sockaddr_in *)ifa->ifa_addr;
		if((ntohl(in->sin_addr.s_addr) >> 24) == 127)
			ifa->ifa_flags &= ~IFF_LOOPBACK;
	}
	return result;
}
