#pragma once
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/genetlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <linux/fib_rules.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>
#include <errno.h>

// MNL_SOCKET_BUFFER_SIZE calls sysconf() and does not import into Swift.
static inline size_t cmnl_socket_buffer_size(void) { return (size_t)MNL_SOCKET_BUFFER_SIZE; }

// setns(2) is declared by <sched.h> only under _GNU_SOURCE, which Swift's Glibc module is not
// built with. This is glibc's prototype; CLONE_NEWNET comes from <linux/sched.h>.
extern int setns(int fd, int nstype);
static inline int cmnl_setns_net(int fd) { return setns(fd, CLONE_NEWNET); }
