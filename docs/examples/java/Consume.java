// Wait for the result of one command (Java, kafka-clients). Read the results topic with YOUR
// OWN consumer group (every team sees every result) and pick yours by commandId.
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;

public final class Consume {
    private static final ObjectMapper JSON = new ObjectMapper();

    static JsonNode waitForResult(
            String bootstrap, String topic, String groupId, String commandId, Duration timeout)
            throws Exception {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, groupId); // yours, e.g. "ivr-svc.call-control-results"
        // a new group also sees results written before it joined
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        Instant deadline = Instant.now().plus(timeout);
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            consumer.subscribe(List.of(topic));
            while (Instant.now().isBefore(deadline)) {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(500))) {
                    JsonNode result = JSON.readTree(record.value());
                    if (commandId.equals(result.path("commandId").asText(null))) {
                        return result;
                    }
                }
            }
        }
        throw new TimeoutException(commandId);
    }

    // The one retry rule: retryable means the same action may succeed if sent again with a
    // NEW commandId; resending the same commandId only replays this stored result.
    static String nextStep(JsonNode result) {
        if ("succeeded".equals(result.path("outcome").asText())) {
            return "done";
        }
        if (result.path("error").path("retryable").asBoolean(false)) {
            return "send again with a new commandId";
        }
        return "give up: fix the cause (see error.code)";
    }

    // usage: Consume BOOTSTRAP TOPIC GROUP_ID COMMAND_ID TIMEOUT_S; prints the result, then the
    // next step
    public static void main(String[] args) throws Exception {
        JsonNode result =
                waitForResult(args[0], args[1], args[2], args[3], Duration.ofSeconds(Long.parseLong(args[4])));
        System.out.println(result);
        System.out.println(nextStep(result));
    }
}
