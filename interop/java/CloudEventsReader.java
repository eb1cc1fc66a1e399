// Reads records of crm-platform's topics with the CloudEvents Java SDK's Kafka binding, the way
// another team's Java service would: the binding chooses structured or binary mode by itself
// (KafkaMessageFactory.createReader looks at the content type, then at the ce_ headers), and the
// JSON event format comes from the SDK's own module. Prints one JSON line per record whose key is
// the given partition key: topic, partition, offset, the mode the binding chose, and the attributes it read.
//
//   java -cp 'jars/*:classes' CloudEventsReader BOOTSTRAP TOPIC,TOPIC KEY SECONDS [CLIENT.PROPERTIES]

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.cloudevents.CloudEvent;
import io.cloudevents.core.message.MessageReader;
import io.cloudevents.kafka.KafkaMessageFactory;
import java.io.FileReader;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

public final class CloudEventsReader {
  public static void main(String[] args) throws Exception {
    Properties props = new Properties();
    if (args.length > 4) {
      try (FileReader in = new FileReader(args[4])) {
        props.load(in);
      }
    }
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    String key = args[2];
    long deadline = System.currentTimeMillis() + Long.parseLong(args[3]) * 1000;
    ObjectMapper json = new ObjectMapper();
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(props)) {
      List<TopicPartition> partitions = new ArrayList<>();
      for (String topic : args[1].split(",")) {
        for (PartitionInfo p : consumer.partitionsFor(topic)) {
          partitions.add(new TopicPartition(topic, p.partition()));
        }
      }
      consumer.assign(partitions); // no group: nothing committed, nothing to clean up
      consumer.seekToBeginning(partitions);
      var ends = consumer.endOffsets(partitions);
      while (System.currentTimeMillis() < deadline) {
        for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(500))) {
          if (!key.equals(record.key())) {
            continue;
          }
          MessageReader reader = KafkaMessageFactory.createReader(record);
          ObjectNode line = json.createObjectNode();
          line.put("topic", record.topic());
          line.put("partition", record.partition());
          line.put("offset", record.offset());
          line.put("encoding", reader.getEncoding().name());
          CloudEvent event = reader.toEvent();
          line.put("specversion", event.getSpecVersion().toString());
          line.put("id", event.getId());
          line.put("type", event.getType());
          line.put("source", event.getSource().toString());
          line.put("subject", event.getSubject());
          ObjectNode extensions = line.putObject("extensions");
          for (String name : event.getExtensionNames()) {
            extensions.put(name, String.valueOf(event.getExtension(name)));
          }
          line.set("data", event.getData() == null ? null : json.readTree(event.getData().toBytes()));
          System.out.println(json.writeValueAsString(line));
        }
        boolean done = true;
        for (TopicPartition tp : partitions) {
          done &= consumer.position(tp) >= ends.get(tp);
        }
        if (done) {
          break;
        }
      }
    }
  }
}
