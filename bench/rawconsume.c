/*
 * The baseline for `make bench-stream`: a plain librdkafka consumer that only counts messages.
 *
 *   rawconsume BROKERS TOPIC COUNT
 *
 * Joins a fresh group, reads TOPIC from the beginning and prints "<count> <seconds>", timed
 * from the first message to the COUNT-th (the start-up and group join are not counted).
 * Built by scripts/bench-stream against the same librdkafka as vigil.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s BROKERS TOPIC COUNT\n", argv[0]);
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
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", errstr);
        return 2;
    }
    rd_kafka_poll_set_consumer(rk);
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
