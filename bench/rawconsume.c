/*
 * The baseline for `make bench-stream`: a plain librdkafka consumer that only counts messages.
 *
 *   rawconsume BROKERS TOPIC COUNT
 *   rawconsume BROKERS TOPIC COUNT --latency PARTITIONS FROM_MS
 *
 * Joins a fresh group, reads TOPIC from the beginning and prints "<count> <seconds>", timed
 * from the first message to the COUNT-th (the start-up and group join are not counted).
 *
 * With --latency it is the floor of the live latency runs: assigned PARTITIONS partitions of
 * TOPIC from the beginning (no group join), it reads records whose value starts with their
 * event time ("2026-11-01T08:00:00.123…", UTC) as they are produced, until COUNT records or
 * 5 s without one, and prints "<records> <p50 ms> <p99 ms>": receipt minus event time of the
 * records stamped at or after FROM_MS (milliseconds since the epoch).
 * Built by scripts/bench-stream against the same librdkafka as vigil.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void set(rd_kafka_conf_t *conf, const char *name, const char *value) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s: %s\n", name, errstr);
        exit(2);
    }
}

static long long wall_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* "YYYY-MM-DDTHH:MM:SS.mmm" at the start of a value, as ms since the epoch; -1 if not one. */
static long long stamp_ms(const char *p, size_t len) {
    struct tm tm;
    int ms;
    char text[24];
    if (len < 23) return -1;
    memcpy(text, p, 23);
    text[23] = 0;
    memset(&tm, 0, sizeof tm);
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d.%3d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &ms) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long long)timegm(&tm) * 1000 + ms;
}

static int compare(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static int latency(rd_kafka_t *rk, const char *topic, long target, int partitions, long long from) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    long long *latencies = malloc(sizeof(long long) * (size_t)target);
    long count = 0, measured = 0;
    double quiet_since = now(), deadline = now() + 600;
    while (count < target && now() < deadline && (count == 0 || now() - quiet_since < 5)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (!m->err) {
            long long received = wall_ms(), stamp = stamp_ms(m->payload, m->len);
            count++;
            quiet_since = now();
            if (stamp >= from) latencies[measured++] = received > stamp ? received - stamp : 0;
        }
        rd_kafka_message_destroy(m);
    }
    qsort(latencies, (size_t)measured, sizeof(long long), compare);
    printf("%ld %lld %lld\n", measured, measured ? latencies[measured / 2] : -1LL,
           measured ? latencies[(long)(measured * 0.99)] : -1LL);
    free(latencies);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return 0;
}

int main(int argc, char **argv) {
    int latency_mode = argc == 7 && strcmp(argv[4], "--latency") == 0;
    if (argc != 4 && !latency_mode) {
        fprintf(stderr, "usage: %s BROKERS TOPIC COUNT [--latency PARTITIONS FROM_MS]\n", argv[0]);
        return 2;
    }
    long target = atol(argv[3]);
    char group[64];
    snprintf(group, sizeof group, "rawconsume-%d-%ld", (int)getpid(), (long)time(NULL));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", argv[1]);
    set(conf, "group.id", group);
    set(conf, "auto.offset.reset", "earliest");
    set(conf, "enable.auto.commit", "false");
    set(conf, "session.timeout.ms", "6000");
    set(conf, "fetch.queue.backoff.ms", "10");
    set(conf, "fetch.wait.max.ms", "10"); /* as vigil's consumer */
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", errstr);
        return 2;
    }
    rd_kafka_poll_set_consumer(rk);
    if (latency_mode) return latency(rk, argv[2], target, atoi(argv[5]), atoll(argv[6]));
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, argv[2], RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    long count = 0;
    double first = 0, last = 0, deadline = now() + 300;
    while (count < target && now() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (!m->err) {
            if (count == 0) first = now();
            count++;
            last = now();
        }
        rd_kafka_message_destroy(m);
    }
    printf("%ld %.6f\n", count, last - first);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return count == target ? 0 : 1;
}
