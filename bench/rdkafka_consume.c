/*
 * rdkafka_consume.c - librdkafka's side of the consumer benchmark (scripts/bench.py);
 * the same contract as consumer-net/examples/bench_consume.rs.
 *
 * Usage: rdkafka_consume <bootstrap> <topic> <partitions> <end0>,<end1>,... [<passes>]
 *
 * With <passes> > 1 it seeks every partition back to the beginning after each complete
 * pass and reads the range again (the mock cluster holds only ~5 MiB per partition):
 * records, bytes, checksum and total_ms cover all passes, wall_ms and pass_* the first.
 *
 * Assigns every partition at RD_KAFKA_OFFSET_BEGINNING, polls with
 * rd_kafka_consumer_poll until each partition has delivered the record before its end
 * offset, and prints one JSON line:
 *   {"consumer":"librdkafka","records":..,"bytes":..,"checksum":..,
 *    "t_first_record_ms":..,"wall_ms":..}
 * Times run from just before rd_kafka_assign. librdkafka runs with its default
 * configuration except group.id (rd_kafka_assign requires one) and
 * enable.auto.commit=false (the Rust side has no group, so commits nothing either).
 *
 * BENCH_IDLE_S=<s>: polls that long whatever arrives (scripts/bench_scale.py's idle case)
 * and adds "idle_s" and "idle_cpu_ms_after_1s" (the CPU after the first second).
 *
 * Group mode (scripts/bench_scale.py's group case), as bench_consume.rs's:
 *
 *   BENCH_GROUP=<group.id> rdkafka_consume <bootstrap> <topic>
 *
 * subscribes with partition.assignment.strategy=cooperative-sticky,
 * enable.auto.commit=false, auto.offset.reset=earliest (and BENCH_RDKAFKA_CONF), serves
 * the rebalance callback with incremental (un)assign, polls until stdin says "quit" or
 * closes, and prints one JSON line per event: subscribe, assigned / revoked / lost (count
 * and partitions owned after it), first_record, a tick each second, summary; each with
 * t_ms (Unix time, ms) and cpu_ms (all threads). With debug=assignor in
 * BENCH_RDKAFKA_CONF, librdkafka's "assignment ... finished in N ms" lines become "log"
 * events (the other debug lines are dropped).
 */

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dirent.h>
#include <poll.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

/* Gives up when nothing arrives for this long (a broken run, not a slow one);
 * BENCH_STALL_S overrides the default of 30 s. */
static double stall_ms(void) {
        const char *s = getenv("BENCH_STALL_S");
        double secs   = s ? strtod(s, NULL) : 0;
        return (secs > 0 ? secs : 30.0) * 1e3;
}

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* This process's peak RSS (VmHWM) in KiB, or -1. Unlike the rusage a parent collects,
 * it excludes what the process held before exec (a forked Python parent's pages). */
static long peak_rss_kib(void) {
        char line[256];
        long kib = -1;
        FILE *f  = fopen("/proc/self/status", "r");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (!strncmp(line, "VmHWM:", 6))
                        kib = strtol(line + 6, NULL, 10);
        fclose(f);
        return kib;
}

/* CPU time (ns) of all threads of this process so far, from /proc/self/task/<tid>/schedstat
 * (the same source as bench_consume.rs): precise to the nanosecond, unlike rusage ticks. */
static uint64_t cpu_ns(void) {
        uint64_t total = 0;
        struct dirent *e;
        DIR *d = opendir("/proc/self/task");
        if (!d)
                return 0;
        while ((e = readdir(d))) {
                char path[300];
                unsigned long long ns = 0;
                FILE *f;
                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat", e->d_name);
                if ((f = fopen(path, "r"))) {
                        if (fscanf(f, "%llu", &ns) == 1)
                                total += ns;
                        fclose(f);
                }
        }
        closedir(d);
        return total;
}

/* One record's contribution to the checksum (must match record_sum in bench_consume.rs). */
static uint64_t record_sum(int32_t partition, int64_t offset, const unsigned char *value,
                           size_t len) {
        uint64_t middle = len ? value[len / 2] : 0;
        return ((((uint64_t)(int64_t)partition * 1000003ULL) ^ (uint64_t)offset) * 31ULL) +
               (uint64_t)len + middle;
}


/* BENCH_RDKAFKA_CONF="k=v,k=v": extra properties. Non-zero (after printing why) on a
 * property librdkafka refuses. */
static int extra_conf(rd_kafka_conf_t *conf) {
        char errstr[512], *extra, *kv, *s2 = NULL;
        if (!getenv("BENCH_RDKAFKA_CONF"))
                return 0;
        extra = strdup(getenv("BENCH_RDKAFKA_CONF"));
        for (kv = strtok_r(extra, ",", &s2); kv; kv = strtok_r(NULL, ",", &s2)) {
                char *eq = strchr(kv, '=');
                if (!eq)
                        continue;
                *eq = '\0';
                if (rd_kafka_conf_set(conf, kv, eq + 1, errstr, sizeof(errstr))) {
                        fprintf(stderr, "rdkafka_consume: %s\n", errstr);
                        free(extra);
                        return -1;
                }
        }
        free(extra);
        return 0;
}

/* ---- group mode ---- */

static double unix_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long owned;

/* One event line (extra: more ,"k":v pairs, may be ""). */
static void event(const char *name, long records, const char *extra) {
        char rec[48] = "";
        if (records >= 0)
                snprintf(rec, sizeof(rec), ",\"records\":%ld", records);
        printf("{\"event\":\"%s\",\"t_ms\":%.3f,\"cpu_ms\":%.3f%s%s}\n", name, unix_ms(),
               (double)cpu_ns() / 1e6, rec, extra);
        fflush(stdout);
}

static void moved(const char *name, int n) {
        char extra[96];
        snprintf(extra, sizeof(extra), ",\"n\":%d,\"owned\":%ld", n, owned);
        event(name, -1, extra);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
        int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
        (void)opaque;
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                if (cooperative) {
                        rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
                        if (e) {
                                fprintf(stderr, "rdkafka_consume: incremental_assign: %s\n",
                                        rd_kafka_error_string(e));
                                rd_kafka_error_destroy(e);
                        }
                        owned += parts->cnt;
                } else {
                        rd_kafka_assign(rk, parts);
                        owned = parts->cnt;
                }
                moved("assigned", parts->cnt);
        } else {
                int lost = rd_kafka_assignment_lost(rk);
                if (cooperative) {
                        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
                        if (e) {
                                fprintf(stderr, "rdkafka_consume: incremental_unassign: %s\n",
                                        rd_kafka_error_string(e));
                                rd_kafka_error_destroy(e);
                        }
                        owned -= parts->cnt;
                } else {
                        rd_kafka_assign(rk, NULL);
                        owned = 0;
                }
                moved(lost ? "lost" : "revoked", parts->cnt);
        }
}

/* Debug lines: only the assignor's timing is kept (debug=assignor prints every partition
 * of the assignment too). */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
        char extra[400], msg[300];
        size_t i, j = 0;
        (void)rk;
        (void)level;
        (void)fac;
        if (!strstr(buf, "finished in") && !strstr(buf, "running "))
                return;
        for (i = 0; buf[i] && j < sizeof(msg) - 3; i++) {
                if (buf[i] == '"' || buf[i] == '\\')
                        msg[j++] = '\\';
                msg[j++] = (unsigned char)buf[i] < 0x20 ? ' ' : buf[i];
        }
        msg[j] = '\0';
        snprintf(extra, sizeof(extra), ",\"msg\":\"%s\"", msg);
        event("log", -1, extra);
}

/* Polls until stdin says quit or closes. */
static int stdin_says_stop(void) {
        struct pollfd pfd = {.fd = 0, .events = POLLIN};
        char line[64];
        if (poll(&pfd, 1, 0) <= 0)
                return 0;
        if (!fgets(line, sizeof(line), stdin))
                return 1;
        return !strncmp(line, "quit", 4);
}

static int group_main(int argc, char **argv, const char *group) {
        char errstr[512], extra[512];
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        rd_kafka_topic_partition_list_t *topics;
        rd_kafka_resp_err_t err;
        long records = 0;
        uint64_t bytes = 0, checksum = 0;
        double next_tick;

        if (argc != 3) {
                fprintf(stderr, "usage: BENCH_GROUP=<group.id> %s <bootstrap> <topic>\n",
                        argv[0]);
                return 2;
        }
        conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "client.id", "bench-rdkafka", errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky",
                              errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, sizeof(errstr)) ||
            extra_conf(conf)) {
                fprintf(stderr, "rdkafka_consume: %s\n", errstr);
                return 2;
        }
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
        rd_kafka_conf_set_log_cb(conf, log_cb);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "rdkafka_consume: %s\n", errstr);
                return 1;
        }
        rd_kafka_poll_set_consumer(rk);
        topics = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(topics, argv[2], RD_KAFKA_PARTITION_UA);
        event("subscribe", -1, "");
        if ((err = rd_kafka_subscribe(rk, topics))) {
                fprintf(stderr, "rdkafka_consume: subscribe: %s\n", rd_kafka_err2str(err));
                return 1;
        }
        rd_kafka_topic_partition_list_destroy(topics);
        next_tick = now_ms() + 1000;
        while (!stdin_says_stop()) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (m && !m->err) {
                        if (records == 0)
                                event("first_record", 0, "");
                        records++;
                        bytes += m->len + m->key_len;
                        checksum += record_sum(m->partition, m->offset, m->payload, m->len);
                } else if (m && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        fprintf(stderr, "rdkafka_consume: %s\n", rd_kafka_message_errstr(m));
                }
                if (m)
                        rd_kafka_message_destroy(m);
                if (now_ms() >= next_tick) {
                        next_tick += 1000;
                        event("tick", records, "");
                }
        }
        event("closing", records, "");
        err = rd_kafka_consumer_close(rk);
        snprintf(extra, sizeof(extra),
                 ",\"consumer\":\"librdkafka\",\"bytes\":%" PRIu64 ",\"checksum\":%" PRIu64
                 ",\"peak_rss_kib\":%ld,\"close_error\":%s%s%s",
                 bytes, checksum, peak_rss_kib(), err ? "\"" : "",
                 err ? rd_kafka_err2str(err) : "null", err ? "\"" : "");
        event("summary", records, extra);
        rd_kafka_destroy(rk);
        return 0;
}

int main(int argc, char **argv) {
        char errstr[512];
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        rd_kafka_topic_partition_list_t *parts;
        rd_kafka_resp_err_t err;
        long partitions, p, remaining = 0, unfinished_at_start, passes, pass = 1;
        int64_t *ends, *next;
        uint64_t records = 0, bytes = 0, checksum = 0, cpu_start, cpu_used;
        double start, first = -1, last, idle_since, stall = stall_ms(), pass_wall = -1;
        uint64_t pass_records = 0, pass_bytes = 0;
        double idle_end;
        char *list, *tok, *save = NULL;
        double idle = getenv("BENCH_IDLE_S") ? strtod(getenv("BENCH_IDLE_S"), NULL) * 1e3 : 0;
        uint64_t cpu_at_1s = 0;

        if (getenv("BENCH_GROUP"))
                return group_main(argc, argv, getenv("BENCH_GROUP"));
        if (argc != 5 && argc != 6) {
                fprintf(stderr,
                        "usage: %s <bootstrap> <topic> <partitions> <end0>,<end1>,... "
                        "[<passes>]\n",
                        argv[0]);
                return 2;
        }
        passes = argc == 6 ? strtol(argv[5], NULL, 10) : 1;
        partitions = strtol(argv[3], NULL, 10);
        if (partitions < 1) {
                fprintf(stderr, "rdkafka_consume: bad partition count\n");
                return 2;
        }
        ends = calloc((size_t)partitions, sizeof(*ends));
        next = calloc((size_t)partitions, sizeof(*next));
        list = strdup(argv[4]);
        if (!ends || !next || !list)
                return 1;
        for (p = 0, tok = strtok_r(list, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save), p++) {
                if (p >= partitions)
                        break;
                ends[p] = strtoll(tok, NULL, 10);
        }
        if (p != partitions || tok) {
                fprintf(stderr, "rdkafka_consume: need %ld end offsets\n", partitions);
                return 2;
        }
        for (p = 0; p < partitions; p++) {
                next[p] = -1;
                if (ends[p] > 0)
                        remaining++;
        }
        unfinished_at_start = remaining;

        conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "client.id", "bench-rdkafka", errstr, sizeof(errstr)) ||
            /* rd_kafka_assign needs a group.id, though nothing uses the group: offsets
             * are explicit and auto-commit is off (the Rust side has no group at all). */
            rd_kafka_conf_set(conf, "group.id", "bench-rdkafka", errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr))) {
                fprintf(stderr, "rdkafka_consume: %s\n", errstr);
                return 2;
        }
        /* BENCH_RDKAFKA_CONF="k=v,k=v": extra properties, for experiments only (the
         * benchmark itself runs with the defaults above). */
        if (extra_conf(conf))
                return 2;
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "rdkafka_consume: %s\n", errstr);
                return 1;
        }

        /* BENCH_COLD unset: learn the topic's leaders before the clock starts, as the Rust
         * side does, so the clock measures fetching rather than the cold-start path (on a
         * cold start librdkafka's offset query waits for its retry timer, ~500 ms). */
        if (!getenv("BENCH_COLD")) {
                const struct rd_kafka_metadata *md;
                rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, argv[2], NULL);
                if ((err = rd_kafka_metadata(rk, 0, rkt, &md, 30000))) {
                        fprintf(stderr, "rdkafka_consume: metadata: %s\n", rd_kafka_err2str(err));
                        return 1;
                }
                rd_kafka_metadata_destroy(md);
                rd_kafka_topic_destroy(rkt);
        }

        parts = rd_kafka_topic_partition_list_new((int)partitions);
        for (p = 0; p < partitions; p++)
                rd_kafka_topic_partition_list_add(parts, argv[2], (int32_t)p)->offset =
                    RD_KAFKA_OFFSET_BEGINNING;

        cpu_start = cpu_ns();
        start     = now_ms();
        last = idle_since = start;
        if ((err = rd_kafka_assign(rk, parts))) {
                fprintf(stderr, "rdkafka_consume: assign: %s\n", rd_kafka_err2str(err));
                return 1;
        }

        for (;;) {
                rd_kafka_message_t *m;
                double now;
                if (idle > 0) {
                        double elapsed = now_ms() - start;
                        if (!cpu_at_1s && elapsed >= 1000)
                                cpu_at_1s = cpu_ns();
                        if (elapsed >= idle)
                                break;
                } else if (remaining == 0) {
                        break;
                }
                m = rd_kafka_consumer_poll(rk, 100);
                if (!m) {
                        if (idle <= 0 && now_ms() - idle_since > stall) {
                                fprintf(stderr,
                                        "rdkafka_consume: stalled with %ld partitions "
                                        "unfinished\n",
                                        remaining);
                                return 1;
                        }
                        continue;
                }
                if (m->err) {
                        fprintf(stderr, "rdkafka_consume: %s\n", rd_kafka_message_errstr(m));
                        return 1;
                }
                now = now_ms();
                idle_since = now;
                if (first < 0)
                        first = now - start;
                records++;
                bytes += m->len + m->key_len;
                checksum += record_sum(m->partition, m->offset, m->payload, m->len);
                if (m->partition >= 0 && m->partition < partitions) {
                        int64_t was = next[m->partition];
                        int64_t end = ends[m->partition];
                        next[m->partition] = m->offset + 1;
                        if (was < end && m->offset + 1 >= end)
                                remaining--;
                }
                rd_kafka_message_destroy(m);
                last = now;
                if (remaining == 0 && pass == 1) {
                        pass_records = records;
                        pass_bytes   = bytes;
                        pass_wall    = now - start;
                }
                if (remaining == 0 && pass < passes) {
                        /* Read the same range again. */
                        rd_kafka_error_t *error;
                        pass++;
                        for (p = 0; p < parts->cnt; p++)
                                parts->elems[p].offset = RD_KAFKA_OFFSET_BEGINNING;
                        if ((error = rd_kafka_seek_partitions(rk, parts, 30000))) {
                                fprintf(stderr, "rdkafka_consume: seek: %s\n",
                                        rd_kafka_error_string(error));
                                return 1;
                        }
                        for (p = 0; p < partitions; p++)
                                next[p] = -1;
                        remaining = unfinished_at_start;
                }
        }
        cpu_used = cpu_ns() - cpu_start;
        idle_end = now_ms() - start;
        rd_kafka_topic_partition_list_destroy(parts);

        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        if (pass_wall < 0) {
                pass_records = records;
                pass_bytes   = bytes;
                pass_wall    = last - start;
        }
        printf("{\"consumer\":\"librdkafka\",\"records\":%" PRIu64 ",\"bytes\":%" PRIu64
               ",\"checksum\":%" PRIu64 ",\"pass_records\":%" PRIu64 ",\"pass_bytes\":%" PRIu64
               ",\"passes\":%ld,\"t_first_record_ms\":%.3f,\"wall_ms\":%.3f,\"total_ms\":%.3f"
               ",\"cpu_ms\":%.3f,\"peak_rss_kib\":%ld",
               records, bytes, checksum, pass_records, pass_bytes, pass, first < 0 ? 0.0 : first,
               pass_wall, last - start, (double)cpu_used / 1e6, peak_rss_kib());
        if (idle > 0 && cpu_at_1s)
                printf(",\"idle_s\":%.3f,\"idle_cpu_ms_after_1s\":%.3f", idle_end / 1e3,
                       (double)(cpu_start + cpu_used - cpu_at_1s) / 1e6);
        printf("}\n");
        free(ends);
        free(next);
        free(list);
        return 0;
}
