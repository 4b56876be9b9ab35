package io.argus.streams.flink;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.header.Header;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/**
 * A Kafka record as a Row of (topic, partition, offset, timestamp, key, value, headers).
 *
 * <p>PyFlink's KafkaSource only offers value-only deserializers; the jobs need the record's
 * coordinates and headers to route bad input to the DLQ with its context. The value stays raw
 * bytes so that invalid UTF-8 reaches Python (and the DLQ) unchanged.
 */
public final class RecordWithMetadataDeserializer implements KafkaRecordDeserializationSchema<Row> {
    private static final long serialVersionUID = 1L;

    public static final String[] FIELDS = {
        "topic", "partition", "offset", "timestamp", "key", "value", "headers"
    };

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<Row> out) {
        Map<String, String> headers = new HashMap<>();
        for (Header header : record.headers()) {
            byte[] value = header.value();
            headers.put(header.key(), value == null ? null : new String(value, StandardCharsets.UTF_8));
        }
        byte[] key = record.key();
        out.collect(Row.of(
                record.topic(), record.partition(), record.offset(), record.timestamp(),
                key == null ? null : new String(key, StandardCharsets.UTF_8), record.value(), headers));
    }

    @Override
    public TypeInformation<Row> getProducedType() {
        return Types.ROW_NAMED(
                FIELDS,
                Types.STRING, Types.INT, Types.LONG, Types.LONG, Types.STRING,
                Types.PRIMITIVE_ARRAY(Types.BYTE), Types.MAP(Types.STRING, Types.STRING));
    }
}
