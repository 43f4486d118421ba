/*
 * The load generator of bench:media-relay (GENERATOR=c, the default when a C
 * compiler is found). A Node generator pays the same per-datagram price as
 * the relay it measures (one send and one receive system call per packet,
 * plus Node's own layer), so on one core it saturates before a good relay
 * does; this one sends with sendmmsg(2) and receives with recvmmsg(2) in
 * batches, so the harness costs a fraction of what the system under test does.
 *
 * It sleeps between 1 ms slots and reads what arrived after each one, so
 * relayed packets do not wake it one by one. Latency is taken from the send time written into each packet's payload to
 * the kernel's receive timestamp of the relayed copy (SO_TIMESTAMPNS), so a
 * busy generator does not add its own receive delay to the figure; how late
 * the generator itself sent (its own lag) is reported separately. Drops in
 * the generator's receive buffers are counted (SO_RXQ_OVFL) apart from loss.
 *
 * Protocol on stdin/stdout (one line each):
 *   out: "ports <portA> <portB>"             (the two sockets peers A and B use)
 *   in:  "run <calls> <warmupMs> <measureMs> <drainMs> [tone]" then <calls>
 *        lines "<relayPortForA> <relayPortForB>" (where A's and B's packets
 *        go; 0: that side sends nothing)
 *   out: one JSON object of results
 *   in:  "exit"
 *
 * Each call sends 50 packets/s each way (PCMU, 20 ms, 172-byte datagrams),
 * calls spread evenly over 20 one-millisecond slots.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PACKET 172
#define BATCH 32
#define SLOTS 20
#define BUCKET_NS 10000 /* latency histogram: 10 µs buckets */
#define BUCKETS 200000  /* up to 2 s */
#define MAGIC 0x766d6231u

static uint32_t lat_hist[BUCKETS];
/* Tone mode (bench:media-ivr): the payload is audio — every 100 frames (2 s)
 * an in-band DTMF '5' (770 + 1336 Hz) for 5 frames, silence otherwise — and
 * every datagram of 172 bytes that comes back counts as received. */
static int tone_mode;
static int counting;
static unsigned char tone_frames[5][160];
static uint64_t digits_sent;

/* G.711 µ-law (ITU-T G.711, the usual segment search with a bias of 0x84). */
static unsigned char ulaw(int s) {
  int sign = 0;
  if (s < 0) {
    sign = 0x80;
    s = -s;
  }
  if (s > 32635) s = 32635;
  s += 0x84;
  int exp = 7;
  for (int mask = 0x4000; (s & mask) == 0 && exp > 0; exp--, mask >>= 1) {
  }
  int mant = (s >> (exp + 3)) & 0x0f;
  return (unsigned char)~(sign | (exp << 4) | mant);
}

static void make_tone(void) {
  for (int f = 0; f < 5; f++)
    for (int i = 0; i < 160; i++) {
      double t = (f * 160 + i) / 8000.0;
      tone_frames[f][i] =
          ulaw((int)(7000 * (__builtin_sin(2 * 3.14159265358979 * 770 * t) +
                             __builtin_sin(2 * 3.14159265358979 * 1336 * t))));
    }
}

static uint32_t lag_hist[BUCKETS];

static int64_t now_ns(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int64_t cpu_us(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (int64_t)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000 + u.ru_utime.tv_usec +
         u.ru_stime.tv_usec;
}

static int open_socket(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    perror("socket");
    exit(1);
  }
  int size = 32 * 1024 * 1024;
  /* Root may exceed net.core.rmem_max; otherwise the kernel caps it. */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    perror("bind");
    exit(1);
  }
  return fd;
}

static int port_of(int fd) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  getsockname(fd, (struct sockaddr *)&sa, &len);
  return ntohs(sa.sin_port);
}

static double percentile(const uint32_t *hist, uint64_t total, double p) {
  if (total == 0) return -1;
  uint64_t want = (uint64_t)(p * (double)total), seen = 0;
  if (want >= total) want = total - 1;
  for (int i = 0; i < BUCKETS; i++) {
    seen += hist[i];
    if (seen > want) return (i + 1) * (BUCKET_NS / 1e6); /* upper edge, ms */
  }
  return BUCKETS * (BUCKET_NS / 1e6);
}

struct state {
  int fd[2];
  int calls;
  struct sockaddr_in *dest[2]; /* per call: where peer A's / B's packets go */
  uint64_t sent, received, foreign, send_errors;
  uint64_t lat_total, lag_total;
  int64_t lat_max_ns, lag_max_ns;
  uint32_t overflow_start[2], overflow_now[2];
  int overflow_seen[2];
};

/* Reads everything queued on fd; counts and times packets sent while measuring. */
static void drain(struct state *s, int side) {
  static char bufs[BATCH][256];
  static char ctrl[BATCH][128];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = sizeof bufs[i];
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = ctrl[i];
      msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i];
    }
    int n = recvmmsg(s->fd[side], msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    for (int i = 0; i < n; i++) {
      int64_t arrived = 0;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c;
           c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        if (c->cmsg_type == SCM_TIMESTAMPNS) {
          struct timespec t;
          memcpy(&t, CMSG_DATA(c), sizeof t);
          arrived = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
        } else if (c->cmsg_type == SO_RXQ_OVFL) {
          uint32_t v;
          memcpy(&v, CMSG_DATA(c), sizeof v);
          if (!s->overflow_seen[side]) {
            s->overflow_seen[side] = 1;
            s->overflow_start[side] = v;
          }
          s->overflow_now[side] = v;
        }
      }
      const unsigned char *p = (const unsigned char *)bufs[i];
      uint32_t magic;
      if (msgs[i].msg_len != PACKET) {
        s->foreign++;
        continue;
      }
      if (tone_mode) {
        if (counting) s->received++;
        continue;
      }
      memcpy(&magic, p + 12, 4);
      if (magic != MAGIC) {
        s->foreign++;
        continue;
      }
      if (p[16] == 0) continue; /* sent during warm-up */
      int64_t stamp;
      memcpy(&stamp, p + 20, 8);
      if (arrived == 0) arrived = now_ns(CLOCK_REALTIME);
      int64_t lat = arrived - stamp;
      if (lat < 0) lat = 0;
      int64_t b = lat / BUCKET_NS;
      if (b >= BUCKETS) b = BUCKETS - 1;
      lat_hist[b]++;
      s->lat_total++;
      if (lat > s->lat_max_ns) s->lat_max_ns = lat;
      s->received++;
    }
  }
}

static void flush(struct state *s, int side, struct mmsghdr *msgs, unsigned char (*pkts)[PACKET],
                  int n, int measuring) {
  /* One stamp per batch, taken right before it goes out. */
  int64_t stamp = now_ns(CLOCK_REALTIME);
  if (!tone_mode)
    for (int i = 0; i < n; i++) memcpy(pkts[i] + 20, &stamp, 8);
  int done = 0, waits = 0;
  while (done < n) {
    int r = sendmmsg(s->fd[side], msgs + done, (unsigned)(n - done), 0);
    if (r < 0) {
      if ((errno == EAGAIN || errno == ENOBUFS) && waits++ < 10) {
        /* Send buffer full: wait (never spin — this may run real-time). */
        struct pollfd out = {s->fd[side], POLLOUT, 0};
        poll(&out, 1, 1);
        continue;
      }
      if (errno == EINTR) continue;
      done++; /* e.g. ECONNREFUSED from a closed port: that packet is lost */
      s->send_errors++;
      continue;
    }
    done += r;
  }
  if (measuring) s->sent += (uint64_t)n;
}

static void send_slot(struct state *s, long slot, int measuring, int count_digits) {
  static unsigned char pkts[BATCH][PACKET];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  uint16_t seq = (uint16_t)(slot / SLOTS);
  for (int side = 0; side < 2; side++) {
    int n = 0;
    for (int call = (int)(slot % SLOTS); call < s->calls; call += SLOTS) {
      if (s->dest[side][call].sin_port == 0) continue; /* nothing to send this way */
      unsigned char *p = pkts[n];
      memset(p, 0xff, PACKET);
      p[0] = 0x80;
      p[1] = 0; /* PCMU */
      p[2] = seq >> 8;
      p[3] = seq & 0xff;
      uint32_t ts = (uint32_t)seq * 160, ssrc = 0x10000u + (uint32_t)call * 2 + side;
      p[4] = ts >> 24, p[5] = ts >> 16, p[6] = ts >> 8, p[7] = ts;
      p[8] = ssrc >> 24, p[9] = ssrc >> 16, p[10] = ssrc >> 8, p[11] = ssrc;
      if (tone_mode) {
        int frame = seq % 100;
        if (frame < 5) memcpy(p + 12, tone_frames[frame], 160);
        if (frame == 0 && count_digits) digits_sent++;
      } else {
        uint32_t magic = MAGIC;
        memcpy(p + 12, &magic, 4);
        p[16] = (unsigned char)measuring;
      }
      iov[n].iov_base = p;
      iov[n].iov_len = PACKET;
      memset(&msgs[n].msg_hdr, 0, sizeof msgs[n].msg_hdr);
      msgs[n].msg_hdr.msg_name = &s->dest[side][call];
      msgs[n].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
      msgs[n].msg_hdr.msg_iov = &iov[n];
      msgs[n].msg_hdr.msg_iovlen = 1;
      if (++n == BATCH) {
        flush(s, side, msgs, pkts, n, measuring);
        n = 0;
      }
    }
    if (n > 0) flush(s, side, msgs, pkts, n, measuring);
  }
}

static void run(struct state *s, long warmup_ms, long measure_ms, long drain_ms) {
  memset(lat_hist, 0, sizeof lat_hist);
  memset(lag_hist, 0, sizeof lag_hist);
  s->sent = s->received = s->foreign = s->send_errors = 0;
  digits_sent = 0;
  counting = 0;
  s->lat_total = s->lag_total = 0;
  s->lat_max_ns = s->lag_max_ns = 0;
  s->overflow_seen[0] = s->overflow_seen[1] = 0;
  s->overflow_start[0] = s->overflow_start[1] = s->overflow_now[0] = s->overflow_now[1] = 0;
  int64_t start = now_ns(CLOCK_MONOTONIC);
  int64_t measure_from = start + warmup_ms * 1000000, stop = measure_from + measure_ms * 1000000;
  long next_slot = 0;
  int64_t cpu_start = 0, cpu_end = 0, wall_end = 0;
  int measuring_started = 0;
  for (;;) {
    int64_t now = now_ns(CLOCK_MONOTONIC);
    if (now >= stop) break;
    int measuring = now >= measure_from;
    if (measuring && !measuring_started) {
      measuring_started = 1;
      counting = 1;
      cpu_start = cpu_us();
    }
    long due = (long)((now - start) / 1000000);
    for (; next_slot <= due; next_slot++) {
      if (measuring) {
        int64_t lag = now_ns(CLOCK_MONOTONIC) - (start + next_slot * 1000000);
        int64_t b = lag / BUCKET_NS;
        if (b >= BUCKETS) b = BUCKETS - 1;
        lag_hist[b]++;
        s->lag_total++;
        if (lag > s->lag_max_ns) s->lag_max_ns = lag;
      }
      /* A digit counts when its 5 frames and 300 ms to detect it fit before the end. */
      send_slot(s, next_slot, measuring, measuring && start + next_slot * 1000000 + 400000000 < stop);
    }
    drain(s, 0);
    drain(s, 1);
    /* Sleep to the next slot rather than wait on the sockets: a sleeping
     * generator is not woken (an inter-processor interrupt, dear in a VM)
     * for every relayed packet; the kernel's receive timestamps keep the
     * latency exact however late the packets are read. */
    int64_t next = start + next_slot * 1000000;
    struct timespec t = {next / 1000000000, next % 1000000000};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
  }
  cpu_end = cpu_us();
  wall_end = now_ns(CLOCK_MONOTONIC);
  /* Packets still in flight: counted if they arrive within the drain time. */
  int64_t drain_until = wall_end + drain_ms * 1000000;
  while (now_ns(CLOCK_MONOTONIC) < drain_until) {
    drain(s, 0);
    drain(s, 1);
    struct timespec t = {0, 1000000};
    nanosleep(&t, NULL);
  }
  drain(s, 0);
  drain(s, 1);
  counting = 0;
  double measured_s = (double)(wall_end - measure_from) / 1e9;
  printf("{\"sent\":%llu,\"received\":%llu,\"foreign\":%llu,"
         "\"p50LatencyMs\":%.3f,\"p99LatencyMs\":%.3f,\"maxLatencyMs\":%.3f,"
         "\"generatorLagP99Ms\":%.3f,\"generatorLagMaxMs\":%.3f,"
         "\"generatorCpuPercent\":%.1f,\"generatorDrops\":%u,\"sendErrors\":%llu,"
         "\"digitsSent\":%llu}\n",
         (unsigned long long)s->sent, (unsigned long long)s->received,
         (unsigned long long)s->foreign, percentile(lat_hist, s->lat_total, 0.5),
         percentile(lat_hist, s->lat_total, 0.99), s->lat_max_ns / 1e6,
         percentile(lag_hist, s->lag_total, 0.99), s->lag_max_ns / 1e6,
         measured_s > 0 ? (double)(cpu_end - cpu_start) / 1e4 / measured_s : 0,
         (s->overflow_now[0] - s->overflow_start[0]) + (s->overflow_now[1] - s->overflow_start[1]),
         (unsigned long long)s->send_errors, (unsigned long long)digits_sent);
  fflush(stdout);
}

int main(void) {
  struct state s = {0};
  make_tone();
  s.fd[0] = open_socket();
  s.fd[1] = open_socket();
  printf("ports %d %d\n", port_of(s.fd[0]), port_of(s.fd[1]));
  fflush(stdout);
  char line[256];
  while (fgets(line, sizeof line, stdin)) {
    int calls;
    long warmup, measure, drain_ms;
    if (strncmp(line, "exit", 4) == 0) break;
    char mode[16] = "";
    int fields = sscanf(line, "run %d %ld %ld %ld %15s", &calls, &warmup, &measure, &drain_ms, mode);
    if (fields < 4 || calls <= 0) {
      fprintf(stderr, "rtp-load: bad command: %s", line);
      return 2;
    }
    tone_mode = strcmp(mode, "tone") == 0;
    s.calls = calls;
    s.dest[0] = calloc((size_t)calls, sizeof(struct sockaddr_in));
    s.dest[1] = calloc((size_t)calls, sizeof(struct sockaddr_in));
    for (int i = 0; i < calls; i++) {
      int pa, pb;
      if (!fgets(line, sizeof line, stdin) || sscanf(line, "%d %d", &pa, &pb) != 2) {
        fprintf(stderr, "rtp-load: bad port line\n");
        return 2;
      }
      for (int side = 0; side < 2; side++) {
        s.dest[side][i].sin_family = AF_INET;
        s.dest[side][i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        s.dest[side][i].sin_port = htons((uint16_t)(side == 0 ? pa : pb));
      }
    }
    run(&s, warmup, measure, drain_ms);
    free(s.dest[0]);
    free(s.dest[1]);
  }
  close(s.fd[0]);
  close(s.fd[1]);
  return 0;
}
