/*
 * rdkafka_produce.c - fill a topic for the consumer benchmark (scripts/bench.py).
 *
 * Usage: rdkafka_produce <bootstrap> <topic> <partitions> <records> <value_size>
 *                        <codec: none|lz4|zstd|gzip|snappy>
 *
 * Produces <records> records, record i to partition i % <partitions>, each with the key
 * "key-<i>" and a value of exactly <value_size> bytes: words drawn from a small dictionary
 * by a fixed pseudo-random sequence, so values compress about as well as typical JSON
 * or log lines do (neither incompressible nor all zeroes), and every run produces the same
 * bytes. Batching is librdkafka's default (batch.num.messages=10000, batch.size=1000000)
 * with linger.ms=5. Waits for every delivery report and exits non-zero if any failed.
 * On success prints one JSON line: {"produced":N,"ms":T,"low":[..],"high":[..]}
 * with each partition's low and high watermark after producing.
 *
 * BENCH_PRODUCE_CONF="k=v,k=v": extra producer properties, for experiments (e.g.
 * batch.num.messages=4 for small batches on few partitions); the benchmarks do not set it.
 */

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

static long delivered, failed;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg,
                        void *opaque) {
        (void)rk;
        (void)opaque;
        if (msg->err) {
                if (failed++ == 0)
                        fprintf(stderr, "rdkafka_produce: delivery failed: %s\n",
                                rd_kafka_err2str(msg->err));
        } else {
                delivered++;
        }
}

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *const words[] = {
    "\"id\":",  "\"user\":",  "\"event\":", "click",    "view",   "purchase",
    "\"page\":", "/products/", "/cart",     "/search?q=", "true",  "false",
    "null",     "\"ms\":",    ", ",        "{",        "}",      "[",
    "]",        "session",    "checkout",  "mobile",   "desktop", "eu-west-1",
    "us-east-1", "0",         "1",         "2",        "3",      "42",
    "1337",     "\"ts\":",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

/* Fills buf[0..size) with dictionary words chosen by the LCG state *seed. */
static void fill_value(char *buf, size_t size, uint64_t *seed) {
        size_t n = 0;
        while (n < size) {
                const char *w;
                size_t len;
                *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
                w   = words[(*seed >> 33) % NWORDS];
                len = strlen(w);
                if (len > size - n)
                        len = size - n;
                memcpy(buf + n, w, len);
                n += len;
        }
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v) {
        char errstr[512];
        if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
                fprintf(stderr, "rdkafka_produce: %s=%s: %s\n", k, v, errstr);
                return -1;
        }
        return 0;
}

int main(int argc, char **argv) {
        char errstr[512], key[32];
        char *value;
        int64_t *lows, *highs;
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        rd_kafka_topic_t *rkt;
        long partitions, records, size, i;
        uint64_t seed = 0x9e3779b97f4a7c15ULL;
        double t0;

        if (argc != 7) {
                fprintf(stderr,
                        "usage: %s <bootstrap> <topic> <partitions> <records> "
                        "<value_size> <codec>\n",
                        argv[0]);
                return 2;
        }
        partitions = strtol(argv[3], NULL, 10);
        records    = strtol(argv[4], NULL, 10);
        size       = strtol(argv[5], NULL, 10);
        if (partitions < 1 || records < 0 || size < 0) {
                fprintf(stderr, "rdkafka_produce: bad numbers\n");
                return 2;
        }

        conf = rd_kafka_conf_new();
        if (conf_set(conf, "bootstrap.servers", argv[1]) ||
            conf_set(conf, "compression.codec", argv[6]) ||
            conf_set(conf, "linger.ms", "5") ||
            conf_set(conf, "queue.buffering.max.messages", "1000000") ||
            conf_set(conf, "queue.buffering.max.kbytes", "1048576"))
                return 2;
        if (getenv("BENCH_PRODUCE_CONF")) {
                char *extra = strdup(getenv("BENCH_PRODUCE_CONF")), *kv, *save = NULL;
                for (kv = strtok_r(extra, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
                        char *eq = strchr(kv, '=');
                        if (!eq)
                                continue;
                        *eq = '\0';
                        if (conf_set(conf, kv, eq + 1))
                                return 2;
                }
                free(extra);
        }
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "rdkafka_produce: %s\n", errstr);
                return 1;
        }
        rkt = rd_kafka_topic_new(rk, argv[2], NULL);

        value = malloc((size_t)size + 1);
        lows  = calloc((size_t)partitions, sizeof(*lows));
        highs = calloc((size_t)partitions, sizeof(*highs));
        if (!value || !lows || !highs)
                return 1;
        t0 = now_ms();
        for (i = 0; i < records; i++) {
                int keylen = snprintf(key, sizeof(key), "key-%ld", i);
                fill_value(value, (size_t)size, &seed);
                while (rd_kafka_produce(rkt, (int32_t)(i % partitions),
                                        RD_KAFKA_MSG_F_COPY, value, (size_t)size,
                                        key, (size_t)keylen, NULL) == -1) {
                        rd_kafka_resp_err_t err = rd_kafka_last_error();
                        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                                fprintf(stderr, "rdkafka_produce: %s\n",
                                        rd_kafka_err2str(err));
                                return 1;
                        }
                        rd_kafka_poll(rk, 10);
                }
                rd_kafka_poll(rk, 0);
        }
        while (rd_kafka_outq_len(rk) > 0)
                rd_kafka_poll(rk, 50);
        if (failed || delivered != records) {
                fprintf(stderr, "rdkafka_produce: %ld of %ld delivered\n",
                        delivered, records);
                return 1;
        }
        printf("{\"produced\":%ld,\"ms\":%.1f,\"low\":[", records,
               now_ms() - t0);
        /* The log range readers will see: the mock cluster may have evicted the oldest
         * batches, so the low watermark is not necessarily 0. */
        for (i = 0; i < partitions; i++) {
                int64_t lo = -1, hi = -1;
                rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
                    rk, argv[2], (int32_t)i, &lo, &hi, 10000);
                if (err) {
                        fprintf(stderr, "rdkafka_produce: watermarks: %s\n",
                                rd_kafka_err2str(err));
                        return 1;
                }
                lows[i]  = lo;
                highs[i] = hi;
        }
        for (i = 0; i < partitions; i++)
                printf("%s%" PRId64, i ? "," : "", lows[i]);
        printf("],\"high\":[");
        for (i = 0; i < partitions; i++)
                printf("%s%" PRId64, i ? "," : "", highs[i]);
        printf("]}\n");

        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        free(value);
        free(lows);
        free(highs);
        return 0;
}
