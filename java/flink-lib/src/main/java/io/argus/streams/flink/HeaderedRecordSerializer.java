package io.argus.streams.flink;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.header.Header;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.flink.types.Row;

/**
 * Writes a Row of (topic, key, value, headers) as a Kafka record with those headers.
 *
 * <p>PyFlink's record serializer cannot set headers; the DLQ keeps the original record's headers
 * and derived events carry correlation_id/tenant_id/source like the gateway's. The partition is left
 * to Kafka's default partitioner (murmur2 of the key), the same rule as the Python gateway's.
 */
public final class HeaderedRecordSerializer implements KafkaRecordSerializationSchema<Row> {
    private static final long serialVersionUID = 1L;

    @Override
    public ProducerRecord<byte[], byte[]> serialize(Row row, KafkaSinkContext context, Long timestamp) {
        String topic = (String) row.getField(0);
        String key = (String) row.getField(1);
        String value = (String) row.getField(2);
        @SuppressWarnings("unchecked")
        Map<String, String> headerMap = (Map<String, String>) row.getField(3);
        List<Header> headers = new ArrayList<>();
        if (headerMap != null) {
            for (Map.Entry<String, String> entry : headerMap.entrySet()) {
                byte[] headerValue = entry.getValue() == null ? null : entry.getValue().getBytes(StandardCharsets.UTF_8);
                headers.add(new RecordHeader(entry.getKey(), headerValue));
            }
        }
        return new ProducerRecord<>(
                topic, null, timestamp,
                key == null ? null : key.getBytes(StandardCharsets.UTF_8),
                value == null ? null : value.getBytes(StandardCharsets.UTF_8),
                headers);
    }
}
