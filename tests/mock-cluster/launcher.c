/*
 * launcher.c - drive a librdkafka mock cluster over a line protocol.
 *
 * Built against librdkafka's experimental mock API (rdkafka_mock.h). The
 * harness (tests/src/mock_cluster.rs) builds it twice from this source, with
 * Debian's headers both times: linked to Debian's librdkafka 2.0.2, and linked
 * to the librdkafka 2.16 that the confluent-kafka wheel bundles. The calls
 * that exist only in newer librdkafka are looked up at run time (dlsym), so
 * one source serves both; against 2.0.2 their commands answer ERR. Also used
 * by scripts/capture-fixtures.sh.
 *
 * Usage: launcher [<broker_count>]        (default 3, broker ids 1..N)
 *
 * On start-up it prints exactly one line to stdout:
 *
 *     BOOTSTRAP <host:port,host:port,...>
 *
 * then reads one command per line on stdin and answers every command with
 * exactly one line on stdout: "OK", "OK <value>" or "ERR <message>".
 * stdout is flushed after every line. librdkafka's own logging goes to stderr.
 *
 * Commands (whitespace separated; <err> is a numeric Kafka error code or a
 * librdkafka error name such as NOT_LEADER_FOR_PARTITION, _TRANSPORT or
 * RD_KAFKA_RESP_ERR_NOT_COORDINATOR):
 *
 *   ping                                          -> OK
 *   bootstrap                                     -> OK <servers>
 *   create_topic <topic> <partitions> <replication>
 *   partition_leader <topic> <partition> <broker_id|-1>
 *   partition_follower <topic> <partition> <broker_id>
 *   follower_wmarks <topic> <partition> <lo> <hi>
 *   topic_error <topic> <err>
 *   broker_down <broker_id|-1>
 *   broker_up <broker_id|-1>
 *   broker_rtt <broker_id|-1> <ms>
 *   broker_rack <broker_id|-1> <rack>
 *   coordinator <group|txn|transaction> <key> <broker_id>
 *   push_errors <api_key> <count> <err> [<err>...]
 *   push_broker_errors <broker_id> <api_key> <count> <err>[:<rtt_ms>] [...]
 *   broker_error_count <broker_id> <api_key>      -> OK <n>
 *   clear_errors <api_key>
 *   apiversion <api_key> <min|-1> <max|-1>
 *   version                                       -> OK <librdkafka version>
 *   group_initial_rebalance_delay <ms>            (librdkafka >= 2.1)
 *   consumer_group_heartbeat_interval <ms>        (KIP-848 groups, >= 2.4)
 *   consumer_group_session_timeout <ms>           (KIP-848 groups, >= 2.4)
 *   quit                                          -> OK, then exit 0
 *
 * Environment: MOCK_LAUNCHER_LOG_LEVEL (librdkafka log_level, default 4)
 * and MOCK_LAUNCHER_DEBUG (librdkafka debug contexts; "mock" logs every
 * request with its version at log level 7).
 *
 * The process exits cleanly on "quit" or on EOF of stdin, so a test process
 * that dies (closing the pipe) never leaks a broker. (PR_SET_PDEATHSIG is
 * deliberately not used: it fires when the spawning *thread* exits, which
 * would kill a cluster shared between test threads.)
 */

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_LINE 8192
#define MAX_TOKENS 512

static rd_kafka_mock_cluster_t *mcluster;

static void reply_ok(void) {
        fputs("OK\n", stdout);
        fflush(stdout);
}

static void reply_ok_val(const char *val) {
        fprintf(stdout, "OK %s\n", val);
        fflush(stdout);
}

static void reply_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply_err(const char *fmt, ...) {
        char buf[1024];
        va_list ap;
        char *p;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        /* The protocol is line based: never emit an embedded newline. */
        for (p = buf; *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        fprintf(stdout, "ERR %s\n", buf);
        fflush(stdout);
}

static void reply_rkerr(rd_kafka_resp_err_t err) {
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                reply_ok();
        else
                reply_err("%s: %s", rd_kafka_err2name(err), rd_kafka_err2str(err));
}

/* Setters of newer librdkafka (not in 2.0.2's rdkafka_mock.h): all take the
 * cluster and one int-sized millisecond value. */
typedef void(mock_ms_setter_t)(rd_kafka_mock_cluster_t *, int);

/* Calls the mock setter `name` with `ms`, if the linked librdkafka has it. */
static void call_ms_setter(const char *name, long ms) {
        mock_ms_setter_t *fn;
        *(void **)(&fn) = dlsym(RTLD_DEFAULT, name);
        if (!fn) {
                reply_err("%s is not in the linked librdkafka %s", name,
                          rd_kafka_version_str());
                return;
        }
        fn(mcluster, (int)ms);
        reply_ok();
}

/* Parse a base-10 integer in [min, max]. Returns 0 on success. */
static int parse_long(const char *s, long min, long max, long *out) {
        char *end;
        long v;
        if (!s || !*s)
                return -1;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return -1;
        *out = v;
        return 0;
}

/* Parse an error code: numeric, or a librdkafka error name. */
static int parse_err(const char *s, rd_kafka_resp_err_t *out) {
        const struct rd_kafka_err_desc *descs;
        size_t cnt, i;
        long v;
        const char *prefix = "RD_KAFKA_RESP_ERR_";

        if (parse_long(s, INT_MIN, INT_MAX, &v) == 0) {
                *out = (rd_kafka_resp_err_t)v;
                return 0;
        }
        if (!strncmp(s, prefix, strlen(prefix)))
                s += strlen(prefix);
        rd_kafka_get_err_descs(&descs, &cnt);
        for (i = 0; i < cnt; i++) {
                if (descs[i].name && !strcasecmp(descs[i].name, s)) {
                        *out = descs[i].code;
                        return 0;
                }
        }
        return -1;
}

#define NEED_ARGS(n, usage)                                                    \
        do {                                                                   \
                if (ntok != (n)) {                                             \
                        reply_err("usage: %s", usage);                         \
                        return 0;                                              \
                }                                                              \
        } while (0)

#define PARSE_LONG(s, min, max, dst, what)                                     \
        do {                                                                   \
                if (parse_long((s), (min), (max), &(dst))) {                   \
                        reply_err("invalid %s: '%s'", what, (s));              \
                        return 0;                                              \
                }                                                              \
        } while (0)

/* Handle one command. Returns 1 when the launcher should exit. */
static int handle(char **tok, int ntok) {
        const char *cmd = tok[0];
        long a, b, c, d;

        if (!strcmp(cmd, "ping")) {
                reply_ok();

        } else if (!strcmp(cmd, "quit") || !strcmp(cmd, "exit")) {
                reply_ok();
                return 1;

        } else if (!strcmp(cmd, "bootstrap")) {
                reply_ok_val(rd_kafka_mock_cluster_bootstraps(mcluster));

        } else if (!strcmp(cmd, "create_topic")) {
                NEED_ARGS(4, "create_topic <topic> <partitions> <replication>");
                PARSE_LONG(tok[2], 1, 100000, a, "partition count");
                PARSE_LONG(tok[3], 1, 1000, b, "replication factor");
                reply_rkerr(rd_kafka_mock_topic_create(mcluster, tok[1], (int)a,
                                                       (int)b));

        } else if (!strcmp(cmd, "partition_leader")) {
                NEED_ARGS(4, "partition_leader <topic> <partition> <broker_id>");
                PARSE_LONG(tok[2], 0, INT32_MAX, a, "partition");
                PARSE_LONG(tok[3], -1, INT32_MAX, b, "broker id");
                reply_rkerr(rd_kafka_mock_partition_set_leader(
                    mcluster, tok[1], (int32_t)a, (int32_t)b));

        } else if (!strcmp(cmd, "partition_follower")) {
                NEED_ARGS(4,
                          "partition_follower <topic> <partition> <broker_id>");
                PARSE_LONG(tok[2], 0, INT32_MAX, a, "partition");
                PARSE_LONG(tok[3], -1, INT32_MAX, b, "broker id");
                reply_rkerr(rd_kafka_mock_partition_set_follower(
                    mcluster, tok[1], (int32_t)a, (int32_t)b));

        } else if (!strcmp(cmd, "follower_wmarks")) {
                NEED_ARGS(5, "follower_wmarks <topic> <partition> <lo> <hi>");
                PARSE_LONG(tok[2], 0, INT32_MAX, a, "partition");
                PARSE_LONG(tok[3], -1, LONG_MAX, c, "low watermark");
                PARSE_LONG(tok[4], -1, LONG_MAX, d, "high watermark");
                reply_rkerr(rd_kafka_mock_partition_set_follower_wmarks(
                    mcluster, tok[1], (int32_t)a, (int64_t)c, (int64_t)d));

        } else if (!strcmp(cmd, "topic_error")) {
                rd_kafka_resp_err_t err;
                NEED_ARGS(3, "topic_error <topic> <err>");
                if (parse_err(tok[2], &err)) {
                        reply_err("invalid error code: '%s'", tok[2]);
                        return 0;
                }
                rd_kafka_mock_topic_set_error(mcluster, tok[1], err);
                reply_ok();

        } else if (!strcmp(cmd, "broker_down")) {
                NEED_ARGS(2, "broker_down <broker_id>");
                PARSE_LONG(tok[1], -1, INT32_MAX, a, "broker id");
                reply_rkerr(rd_kafka_mock_broker_set_down(mcluster, (int32_t)a));

        } else if (!strcmp(cmd, "broker_up")) {
                NEED_ARGS(2, "broker_up <broker_id>");
                PARSE_LONG(tok[1], -1, INT32_MAX, a, "broker id");
                reply_rkerr(rd_kafka_mock_broker_set_up(mcluster, (int32_t)a));

        } else if (!strcmp(cmd, "broker_rtt")) {
                NEED_ARGS(3, "broker_rtt <broker_id> <ms>");
                PARSE_LONG(tok[1], -1, INT32_MAX, a, "broker id");
                PARSE_LONG(tok[2], 0, INT_MAX, b, "rtt ms");
                reply_rkerr(rd_kafka_mock_broker_set_rtt(mcluster, (int32_t)a,
                                                         (int)b));

        } else if (!strcmp(cmd, "broker_rack")) {
                NEED_ARGS(3, "broker_rack <broker_id> <rack>");
                PARSE_LONG(tok[1], -1, INT32_MAX, a, "broker id");
                reply_rkerr(
                    rd_kafka_mock_broker_set_rack(mcluster, (int32_t)a, tok[2]));

        } else if (!strcmp(cmd, "coordinator")) {
                const char *type;
                NEED_ARGS(4, "coordinator <group|txn> <key> <broker_id>");
                if (!strcmp(tok[1], "group"))
                        type = "group";
                else if (!strcmp(tok[1], "txn") ||
                         !strcmp(tok[1], "transaction"))
                        type = "transaction";
                else {
                        reply_err("coordinator type must be group or txn, "
                                  "got '%s'",
                                  tok[1]);
                        return 0;
                }
                PARSE_LONG(tok[3], -1, INT32_MAX, a, "broker id");
                reply_rkerr(rd_kafka_mock_coordinator_set(mcluster, type, tok[2],
                                                          (int32_t)a));

        } else if (!strcmp(cmd, "push_errors")) {
                rd_kafka_resp_err_t errs[MAX_TOKENS];
                int i;
                if (ntok < 4) {
                        reply_err("usage: push_errors <api_key> <count> <err> "
                                  "[<err>...]");
                        return 0;
                }
                PARSE_LONG(tok[1], 0, INT16_MAX, a, "api key");
                PARSE_LONG(tok[2], 1, MAX_TOKENS, b, "count");
                if (b != ntok - 3) {
                        reply_err("count %ld does not match the %d error codes "
                                  "given",
                                  b, ntok - 3);
                        return 0;
                }
                for (i = 0; i < b; i++) {
                        if (parse_err(tok[3 + i], &errs[i])) {
                                reply_err("invalid error code: '%s'", tok[3 + i]);
                                return 0;
                        }
                }
                rd_kafka_mock_push_request_errors_array(mcluster, (int16_t)a,
                                                        (size_t)b, errs);
                reply_ok();

        } else if (!strcmp(cmd, "push_broker_errors")) {
                rd_kafka_resp_err_t errs[MAX_TOKENS];
                int rtts[MAX_TOKENS];
                int i;
                if (ntok < 5) {
                        reply_err("usage: push_broker_errors <broker_id> "
                                  "<api_key> <count> <err>[:<rtt_ms>] ...");
                        return 0;
                }
                PARSE_LONG(tok[1], 0, INT32_MAX, a, "broker id");
                PARSE_LONG(tok[2], 0, INT16_MAX, b, "api key");
                PARSE_LONG(tok[3], 1, MAX_TOKENS, c, "count");
                if (c != ntok - 4) {
                        reply_err("count %ld does not match the %d error codes "
                                  "given",
                                  c, ntok - 4);
                        return 0;
                }
                /* Validate everything before pushing anything. */
                for (i = 0; i < c; i++) {
                        char *colon = strchr(tok[4 + i], ':');
                        long rtt = 0;
                        if (colon) {
                                *colon = '\0';
                                PARSE_LONG(colon + 1, 0, INT_MAX, rtt, "rtt ms");
                        }
                        if (parse_err(tok[4 + i], &errs[i])) {
                                reply_err("invalid error code: '%s'", tok[4 + i]);
                                return 0;
                        }
                        rtts[i] = (int)rtt;
                }
                /* The C API is variadic: push one (err, rtt) tuple at a time;
                 * each call appends to the broker's per-ApiKey stack, so the
                 * order is preserved. */
                for (i = 0; i < c; i++) {
                        rd_kafka_resp_err_t err =
                            rd_kafka_mock_broker_push_request_error_rtts(
                                mcluster, (int32_t)a, (int16_t)b, 1, errs[i],
                                rtts[i]);
                        if (err) {
                                reply_rkerr(err);
                                return 0;
                        }
                }
                reply_ok();

        } else if (!strcmp(cmd, "broker_error_count")) {
                size_t cnt = 0;
                char buf[32];
                rd_kafka_resp_err_t err;
                NEED_ARGS(3, "broker_error_count <broker_id> <api_key>");
                PARSE_LONG(tok[1], 0, INT32_MAX, a, "broker id");
                PARSE_LONG(tok[2], 0, INT16_MAX, b, "api key");
                err = rd_kafka_mock_broker_error_stack_cnt(mcluster, (int32_t)a,
                                                           (int16_t)b, &cnt);
                if (err) {
                        reply_rkerr(err);
                        return 0;
                }
                snprintf(buf, sizeof(buf), "%zu", cnt);
                reply_ok_val(buf);

        } else if (!strcmp(cmd, "clear_errors")) {
                NEED_ARGS(2, "clear_errors <api_key>");
                PARSE_LONG(tok[1], 0, INT16_MAX, a, "api key");
                rd_kafka_mock_clear_request_errors(mcluster, (int16_t)a);
                reply_ok();

        } else if (!strcmp(cmd, "apiversion")) {
                NEED_ARGS(4, "apiversion <api_key> <min> <max>");
                PARSE_LONG(tok[1], 0, INT16_MAX, a, "api key");
                PARSE_LONG(tok[2], -1, INT16_MAX, b, "min version");
                PARSE_LONG(tok[3], -1, INT16_MAX, c, "max version");
                reply_rkerr(rd_kafka_mock_set_apiversion(
                    mcluster, (int16_t)a, (int16_t)b, (int16_t)c));

        } else if (!strcmp(cmd, "version")) {
                reply_ok_val(rd_kafka_version_str());

        } else if (!strcmp(cmd, "group_initial_rebalance_delay")) {
                NEED_ARGS(2, "group_initial_rebalance_delay <ms>");
                PARSE_LONG(tok[1], 0, INT32_MAX, a, "delay ms");
                call_ms_setter("rd_kafka_mock_group_initial_rebalance_delay_ms",
                               a);

        } else if (!strcmp(cmd, "consumer_group_heartbeat_interval")) {
                NEED_ARGS(2, "consumer_group_heartbeat_interval <ms>");
                PARSE_LONG(tok[1], 1, INT_MAX, a, "interval ms");
                call_ms_setter(
                    "rd_kafka_mock_set_group_consumer_heartbeat_interval_ms", a);

        } else if (!strcmp(cmd, "consumer_group_session_timeout")) {
                NEED_ARGS(2, "consumer_group_session_timeout <ms>");
                PARSE_LONG(tok[1], 1, INT_MAX, a, "timeout ms");
                call_ms_setter(
                    "rd_kafka_mock_set_group_consumer_session_timeout_ms", a);

        } else {
                reply_err("unknown command '%s'", cmd);
        }
        return 0;
}

int main(int argc, char **argv) {
        char errstr[512];
        char line[MAX_LINE];
        char *tok[MAX_TOKENS];
        long brokers = 3;
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        const char *loglevel = getenv("MOCK_LAUNCHER_LOG_LEVEL");
        /* e.g. MOCK_LAUNCHER_DEBUG=mock MOCK_LAUNCHER_LOG_LEVEL=7: every
         * request the brokers receive, with its version, on stderr. */
        const char *debug = getenv("MOCK_LAUNCHER_DEBUG");

        /* A vanished reader must not kill us with SIGPIPE mid-cleanup; the
         * write error on stdout is noticed via EOF on stdin anyway. */
        signal(SIGPIPE, SIG_IGN);

        if (argc > 2 || (argc == 2 && parse_long(argv[1], 1, 64, &brokers))) {
                fprintf(stderr, "usage: %s [<broker_count 1..64>]\n", argv[0]);
                return 2;
        }

        conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "client.id", "mock-launcher", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "log_level", loglevel ? loglevel : "4",
                              errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            (debug && *debug &&
             rd_kafka_conf_set(conf, "debug", debug, errstr, sizeof(errstr)) !=
                 RD_KAFKA_CONF_OK)) {
                fprintf(stderr, "launcher: conf: %s\n", errstr);
                return 1;
        }

        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "launcher: rd_kafka_new: %s\n", errstr);
                return 1;
        }

        mcluster = rd_kafka_mock_cluster_new(rk, (int)brokers);
        if (!mcluster) {
                fprintf(stderr, "launcher: rd_kafka_mock_cluster_new failed\n");
                rd_kafka_destroy(rk);
                return 1;
        }

        fprintf(stdout, "BOOTSTRAP %s\n",
                rd_kafka_mock_cluster_bootstraps(mcluster));
        fflush(stdout);

        while (fgets(line, sizeof(line), stdin)) {
                int ntok = 0;
                char *save = NULL, *t;
                size_t len = strlen(line);

                if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
                        int ch;
                        /* Discard the rest of an over-long line. */
                        while ((ch = getchar()) != EOF && ch != '\n')
                                ;
                        reply_err("line too long (max %d bytes)", MAX_LINE - 2);
                        continue;
                }

                for (t = strtok_r(line, " \t\r\n", &save);
                     t && ntok < MAX_TOKENS;
                     t = strtok_r(NULL, " \t\r\n", &save))
                        tok[ntok++] = t;
                if (t) {
                        reply_err("too many arguments (max %d)", MAX_TOKENS);
                        continue;
                }
                if (ntok == 0) {
                        reply_err("empty command");
                        continue;
                }
                if (handle(tok, ntok))
                        break;
        }

        rd_kafka_mock_cluster_destroy(mcluster);
        rd_kafka_destroy(rk);
        return 0;
}
