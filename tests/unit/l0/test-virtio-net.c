// SPDX-License-Identifier: MIT
/*
 * virtio-net on a real tap interface: a frame the test's driver transmits
 * comes out of the tap (seen by a packet socket bound to it), a frame sent
 * into the tap lands in a posted rx buffer with its virtio_net_hdr_v1, and
 * frames that arrive while no rx buffer is posted wait in the kernel until
 * the driver posts one. Skipped when this process cannot create a tap.
 */
#include "harness/ooh_check.h"
#include "virtio-test-driver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#define QSIZE 16
#define ETHERTYPE_TEST 0x88b5 /* IEEE local experimental */
#define RX_BUF_LEN (sizeof(struct virtio_net_hdr_v1) + 1514)

/* Queue 0 (rx) at these addresses; queue 1 (tx) at the driver header's VD_* ones. */
#define RX_DESC_GPA  0x200000ull
#define RX_AVAIL_GPA 0x201000ull
#define RX_USED_GPA  0x202000ull
#define RX_BUF_GPA   0x210000ull

struct net_test {
	struct vdrv tx;         /* the header's driver, on queue 1 */
	struct vring_desc *rx_desc;
	struct vring_avail *rx_avail;
	struct vring_used *rx_used;
	uint16_t rx_avail_idx;
	char ifname[IFNAMSIZ];
	int packet_fd;
	int ifindex;
	uint8_t mac[6];
};

/* Whether this process may create tap interfaces at all. */
static bool can_create_tap(const char *name, char *why, size_t size)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		snprintf(why, size, "/dev/net/tun: %s", strerror(errno));
		return false;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		snprintf(why, size, "TUNSETIFF: %s", strerror(errno));
		close(fd);
		return false;
	}
	close(fd); /* not persistent: the interface goes with the fd */
	return true;
}

/* Brings the interface up; returns its index. */
static int link_up(const char *name)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ck_assert_int_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	ck_assert_int_eq(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	ck_assert_int_eq(ioctl(fd, SIOCGIFINDEX, &ifr), 0);
	close(fd);
	return ifr.ifr_ifindex;
}

static void configure_queue(struct vdrv *d, unsigned index, uint64_t desc, uint64_t avail,
			    uint64_t used)
{
	vd_write(d, VIRTIO_MMIO_QUEUE_SEL, index);
	ck_assert_uint_eq(vd_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX), L0_VIRTQ_MAX_SIZE);
	vd_write(d, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	vd_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	vd_write(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	vd_write(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
	vd_write(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
	vd_write(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
	vd_write(d, VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
	vd_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(vd_read(d, VIRTIO_MMIO_QUEUE_READY), 1);
}

/* false (test skipped) when no tap can be made here. */
static bool net_setup(struct net_test *n)
{
	struct vdrv *d = &n->tx;
	char arg[32], why[128];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	uint64_t offered;

	memset(n, 0, sizeof(*n));
	snprintf(n->ifname, sizeof(n->ifname), "oohvt%d", (int)getpid() % 1000000);
	if (!can_create_tap(n->ifname, why, sizeof(why))) {
		fprintf(stderr, "test-virtio-net: skipped, cannot create a tap (%s)\n", why);
		return false;
	}
	snprintf(arg, sizeof(arg), "tap=%s", n->ifname);
	d->vm = l0t_vm(false, -1);
	ck_assert_int_eq(l0_device_add(&d->vm->devices, d->vm, &l0_virtio_net_device, arg), 0);
	d->dev = l0_device_find(&d->vm->devices, &l0_virtio_net_device);
	d->base = l0_virtio_transport(d->dev)->base;
	ck_assert_uint_eq(vd_read(d, VIRTIO_MMIO_DEVICE_ID), 1);

	offered = vd_negotiate(d, 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_NET_F_MAC |
			       1ull << VIRTIO_NET_F_STATUS);
	ck_assert(offered & (1ull << VIRTIO_NET_F_MAC));
	ck_assert(!(offered & (1ull << VIRTIO_NET_F_CSUM)));
	ck_assert(vd_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK);
	for (int i = 0; i < 6; i++) {
		uint8_t byte;

		ck_assert(l0_bus_dispatch(&d->vm->mmio, NULL, d->base + VIRTIO_MMIO_CONFIG + i,
					  &byte, 1, false));
		n->mac[i] = byte;
	}
	ck_assert_uint_eq(n->mac[0], 0x02); /* locally administered, unicast */
	ck_assert_uint_eq(vd_read(d, VIRTIO_MMIO_CONFIG + 4) >> 16, VIRTIO_NET_S_LINK_UP);

	n->rx_desc = vd_host(d, RX_DESC_GPA, 0x1000);
	n->rx_avail = vd_host(d, RX_AVAIL_GPA, 0x1000);
	n->rx_used = vd_host(d, RX_USED_GPA, 0x1000);
	memset(n->rx_desc, 0, 0x3000);
	configure_queue(d, 0, RX_DESC_GPA, RX_AVAIL_GPA, RX_USED_GPA);
	d->num = QSIZE;
	d->desc = vd_host(d, VD_DESC_GPA, 0x1000);
	d->avail = vd_host(d, VD_AVAIL_GPA, 0x1000);
	d->used = vd_host(d, VD_USED_GPA, 0x1000);
	memset(d->desc, 0, 0x3000);
	configure_queue(d, 1, VD_DESC_GPA, VD_AVAIL_GPA, VD_USED_GPA);
	vd_driver_ok(d);

	n->ifindex = link_up(n->ifname);
	ck_assert_int_gt(n->ifindex, 0);
	n->packet_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	ck_assert_int_ge(n->packet_fd, 0);
	sll.sll_ifindex = n->ifindex;
	ck_assert_int_eq(bind(n->packet_fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return true;
}

static void net_teardown(struct net_test *n)
{
	close(n->packet_fd);
	vd_detach(&n->tx);
}

static size_t test_frame(uint8_t *frame, const uint8_t dst[6], const uint8_t src[6],
			 const char *payload)
{
	size_t len = strlen(payload);
	uint16_t type = htons(ETHERTYPE_TEST);

	memcpy(frame, dst, 6);
	memcpy(frame + 6, src, 6);
	memcpy(frame + 12, &type, 2);
	memcpy(frame + 14, payload, len);
	/* Pad to Ethernet's minimum. */
	if (14 + len < 60) {
		memset(frame + 14 + len, 0, 60 - 14 - len);
		return 60;
	}
	return 14 + len;
}

/* Posts rx buffer i (descriptor i, RX_BUF_LEN bytes) and notifies queue 0. */
static void post_rx_buffer(struct net_test *n, unsigned i)
{
	n->rx_desc[i] = (struct vring_desc){ RX_BUF_GPA + 0x1000 * i, RX_BUF_LEN,
					     VRING_DESC_F_WRITE, 0 };
	n->rx_avail->ring[n->rx_avail_idx % QSIZE] = (uint16_t)i;
	n->rx_avail_idx++;
	__atomic_store_n(&n->rx_avail->idx, n->rx_avail_idx, __ATOMIC_RELEASE);
	vd_write(&n->tx, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

/* Looks through the used rx buffers for our test frame; returns its used length or 0. */
static uint32_t find_rx_frame(struct net_test *n, const uint8_t *frame, size_t len)
{
	uint16_t used = __atomic_load_n(&n->rx_used->idx, __ATOMIC_ACQUIRE);

	for (uint16_t u = 0; u < used; u++) {
		struct vring_used_elem e = n->rx_used->ring[u % QSIZE];
		uint8_t *buf = vd_host(&n->tx, RX_BUF_GPA + 0x1000 * e.id, RX_BUF_LEN);
		struct virtio_net_hdr_v1 hdr;

		if (e.len != sizeof(hdr) + len || memcmp(buf + sizeof(hdr), frame, len))
			continue; /* the host's own chatter (IPv6 and such) */
		memcpy(&hdr, buf, sizeof(hdr));
		ck_assert_uint_eq(hdr.num_buffers, 1);
		ck_assert_uint_eq(hdr.flags, 0);
		ck_assert_uint_eq(hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
		return e.len;
	}
	return 0;
}

static void send_into_tap(struct net_test *n, const uint8_t *frame, size_t len)
{
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = n->ifindex,
				  .sll_halen = 6 };

	memcpy(to.sll_addr, frame, 6);
	ck_assert_int_eq(sendto(n->packet_fd, frame, len, 0, (struct sockaddr *)&to, sizeof(to)),
			 (ssize_t)len);
}

START_TEST(tx_frame_leaves_through_the_tap)
{
	struct net_test n;
	static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t frame[128], got[2048];
	struct virtio_net_hdr_v1 *hdr;
	size_t len;
	int64_t deadline;
	bool seen = false;

	if (!net_setup(&n))
		return;
	/*
	 * Header and frame in two descriptors; the header asks for a checksum
	 * offload that was never negotiated (and that the kernel would refuse:
	 * csum_start is past the frame). The device sends a zero header instead.
	 */
	hdr = vd_host(&n.tx, VD_HDR_GPA, sizeof(*hdr));
	*hdr = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					   .csum_start = 0xfff0, .csum_offset = 6 };
	len = test_frame(frame, broadcast, n.mac, "ooh virtio-net tx");
	memcpy(vd_host(&n.tx, VD_DATA_GPA, len), frame, len);
	vd_set_desc(&n.tx, 0, VD_HDR_GPA, sizeof(*hdr), VRING_DESC_F_NEXT, 1);
	vd_set_desc(&n.tx, 1, VD_DATA_GPA, (uint32_t)len, 0, 0);
	n.tx.avail->ring[0] = 0;
	__atomic_store_n(&n.tx.avail->idx, 1, __ATOMIC_RELEASE);
	vd_write(&n.tx, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	ck_assert(VD_WAIT_FOR(vd_used_idx(&n.tx) == 1));
	ck_assert_uint_eq(n.tx.used->ring[0].id, 0);
	ck_assert_uint_eq(n.tx.used->ring[0].len, 0);
	deadline = vd_now_ms() + VD_WAIT_MS;
	while (!seen && vd_now_ms() < deadline) {
		struct pollfd pfd = { .fd = n.packet_fd, .events = POLLIN };
		ssize_t got_len;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		got_len = recv(n.packet_fd, got, sizeof(got), 0);
		seen = got_len == (ssize_t)len && !memcmp(got, frame, len);
	}
	ck_assert_msg(seen, "the guest's frame never came out of %s", n.ifname);
	net_teardown(&n);
}
END_TEST

START_TEST(rx_frame_lands_in_a_buffer)
{
	struct net_test n;
	uint8_t frame[128];
	static const uint8_t src[6] = { 0x02, 0, 0, 0, 0, 0x99 };
	size_t len;

	if (!net_setup(&n))
		return;
	for (unsigned i = 0; i < 8; i++)
		post_rx_buffer(&n, i);
	len = test_frame(frame, n.mac, src, "ooh virtio-net rx");
	send_into_tap(&n, frame, len);
	ck_assert_msg(VD_WAIT_FOR(find_rx_frame(&n, frame, len) != 0),
		      "the frame never reached an rx buffer");
	net_teardown(&n);
}
END_TEST

START_TEST(rx_waits_for_buffers)
{
	/* A frame that arrives before any rx buffer is kept (by the kernel) until one comes. */
	struct net_test n;
	uint8_t frame[128];
	static const uint8_t src[6] = { 0x02, 0, 0, 0, 0, 0x98 };
	size_t len;

	if (!net_setup(&n))
		return;
	len = test_frame(frame, n.mac, src, "ooh virtio-net early");
	send_into_tap(&n, frame, len);
	vd_write(&n.tx, VIRTIO_MMIO_QUEUE_NOTIFY, 0); /* a notify with nothing posted */
	vd_quiesce(&n.tx);
	ck_assert_uint_eq(__atomic_load_n(&n.rx_used->idx, __ATOMIC_ACQUIRE), 0);
	for (unsigned i = 0; i < 8; i++)
		post_rx_buffer(&n, i);
	ck_assert_msg(VD_WAIT_FOR(find_rx_frame(&n, frame, len) != 0),
		      "the early frame was lost");
	net_teardown(&n);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("virtio-net");
	TCase *tc = tcase_create("net");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, tx_frame_leaves_through_the_tap);
	tcase_add_test(tc, rx_frame_lands_in_a_buffer);
	tcase_add_test(tc, rx_waits_for_buffers);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
