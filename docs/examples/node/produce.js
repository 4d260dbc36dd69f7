// Send one call-control command (Node, kafkajs). Paste and adapt: the essentials are the key
// (the callId, so a call's commands stay in order), acks=all with idempotence, and a commandId
// that names the action once (the same id again only replays the stored result).
const { Kafka, logLevel } = require("kafkajs");

// a commandId scheme: <your service>:<your entity>:<action>:<attempt> - unique per action,
// stable across your own restarts, a new <attempt> when you decide to try again
function commandId(service, entity, action, attempt = 1) {
  return `${service}:${entity}:${action}:${attempt}`;
}

async function sendCommand(bootstrap, topic, command, traceparent) {
  const kafka = new Kafka({ brokers: [bootstrap], logLevel: logLevel.ERROR });
  const producer = kafka.producer({ idempotent: true }); // idempotence; kafkajs then needs acks=-1
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1, // acks=all
      messages: [
        {
          key: command.callId, // UTF-8
          value: JSON.stringify(command),
          // optional: the service's spans join your trace
          headers: traceparent ? { traceparent } : {},
        },
      ],
    });
  } finally {
    await producer.disconnect();
  }
}

module.exports = { commandId, sendCommand };

// usage: node produce.js BOOTSTRAP TOPIC CALL_ID [TRACEPARENT]; prints the commandId it sent
if (require.main === module) {
  const [bootstrap, topic, callId, traceparent] = process.argv.slice(2);
  const command = { commandId: commandId("ivr-svc", callId, "hangup"), callId, type: "hangup" };
  sendCommand(bootstrap, topic, command, traceparent).then(
    () => console.log(command.commandId),
    (error) => {
      console.error("produce:", error);
      process.exit(1);
    },
  );
}
