// C surface of librdkafka for Swift: the client API, the in-process mock cluster, and
// helpers for what Swift cannot import (cast macros, variadic calls).
#ifndef VIGIL_CRDKAFKA_SHIM_H
#define VIGIL_CRDKAFKA_SHIM_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/// RD_KAFKA_PARTITION_UA: "unassigned partition", let the partitioner choose.
static inline int32_t vigil_partition_ua(void) { return RD_KAFKA_PARTITION_UA; }
/// RD_KAFKA_OFFSET_INVALID (-1001).
static inline int64_t vigil_offset_invalid(void) { return RD_KAFKA_OFFSET_INVALID; }

/// Kafka protocol API keys (librdkafka keeps them in a private header), for mock error injection.
enum {
    VIGIL_APIKEY_PRODUCE = 0,
    VIGIL_APIKEY_FETCH = 1,
    VIGIL_APIKEY_METADATA = 3,
    VIGIL_APIKEY_OFFSET_COMMIT = 8,
    VIGIL_APIKEY_JOIN_GROUP = 11,
};

/// One message into librdkafka's queue. `rd_kafka_producev` is variadic and cannot be called
/// from Swift; this fixed-arity wrapper can. Payload and key are copied (RD_KAFKA_MSG_F_COPY),
/// so the caller's buffers need not outlive the call. `topic` is a cached handle: naming the topic
/// by string would make librdkafka look it up on every message. On success librdkafka owns `headers`;
/// on failure the caller still does.
static inline rd_kafka_resp_err_t vigil_produce(rd_kafka_t *rk, rd_kafka_topic_t *topic, int32_t partition,
                                                const void *key, size_t key_len,
                                                const void *value, size_t value_len,
                                                rd_kafka_headers_t *headers, int64_t timestamp_ms,
                                                void *opaque) {
    return rd_kafka_producev(rk,
                             RD_KAFKA_V_RKT(topic),
                             RD_KAFKA_V_PARTITION(partition),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_KEY((void *)key, key_len),
                             RD_KAFKA_V_VALUE((void *)value, value_len),
                             RD_KAFKA_V_HEADERS(headers),
                             RD_KAFKA_V_TIMESTAMP(timestamp_ms),
                             RD_KAFKA_V_OPAQUE(opaque),
                             RD_KAFKA_V_END);
}

#endif
