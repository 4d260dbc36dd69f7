// Send one call-control command (Java, kafka-clients). Paste and adapt: the essentials are the
// key (the callId, so a call's commands stay in order), acks=all with idempotence, and a
// commandId that names the action once (the same id again only replays the stored result).
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

public final class Produce {
    private static final ObjectMapper JSON = new ObjectMapper();

    // a commandId scheme: <your service>:<your entity>:<action>:<attempt> - unique per action,
    // stable across your own restarts, a new <attempt> when you decide to try again
    static String commandId(String service, String entity, String action, int attempt) {
        return service + ":" + entity + ":" + action + ":" + attempt;
    }

    static void sendCommand(
            String bootstrap, String topic, Map<String, Object> command, String traceparent)
            throws Exception {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            String key = (String) command.get("callId"); // UTF-8 by StringSerializer
            ProducerRecord<String, String> record =
                    new ProducerRecord<>(topic, key, JSON.writeValueAsString(command));
            if (traceparent != null) { // optional: the service's spans join your trace
                record.headers().add("traceparent", traceparent.getBytes(StandardCharsets.UTF_8));
            }
            producer.send(record).get(); // wait for the broker's acknowledgement
        }
    }

    // usage: Produce BOOTSTRAP TOPIC CALL_ID [TRACEPARENT]; prints the commandId it sent
    public static void main(String[] args) throws Exception {
        String callId = args[2];
        Map<String, Object> command = new LinkedHashMap<>();
        command.put("commandId", commandId("ivr-svc", callId, "hangup", 1));
        command.put("callId", callId);
        command.put("type", "hangup");
        sendCommand(args[0], args[1], command, args.length > 3 ? args[3] : null);
        System.out.println(command.get("commandId"));
    }
}
