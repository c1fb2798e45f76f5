#pragma once
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/genetlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <linux/fib_rules.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>
#include <errno.h>

// MNL_SOCKET_BUFFER_SIZE calls sysconf() and does not import into Swift.
static inline size_t cmnl_socket_buffer_size(void) { return (size_t)MNL_SOCKET_BUFFER_SIZE; }
