// Wait for the result of one command (Node, kafkajs). Read the results topic with YOUR OWN
// consumer group (every team sees every result) and pick yours by commandId.
const { Kafka, logLevel } = require("kafkajs");

async function waitForResult(bootstrap, topic, groupId, commandId, timeoutMs = 30000) {
  const kafka = new Kafka({ brokers: [bootstrap], logLevel: logLevel.ERROR });
  // yours, e.g. "ivr-svc.call-control-results"; kafkajs reads committed records only by default
  const consumer = kafka.consumer({ groupId, readUncommitted: false });
  await consumer.connect();
  let timer;
  try {
    // fromBeginning: a new group also sees results written before it joined
    await consumer.subscribe({ topic, fromBeginning: true });
    return await new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no result for ${commandId}`)), timeoutMs);
      consumer
        .run({
          eachMessage: async ({ message }) => {
            const result = JSON.parse(message.value.toString());
            if (result.commandId === commandId) resolve(result);
          },
        })
        .catch(reject);
    });
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
}

// The one retry rule: retryable means the same action may succeed if sent again with a NEW
// commandId; resending the same commandId only replays this stored result.
function nextStep(result) {
  if (result.outcome === "succeeded") return "done";
  if (result.error && result.error.retryable) return "send again with a new commandId";
  return "give up: fix the cause (see error.code)";
}

module.exports = { waitForResult, nextStep };

// usage: node consume.js BOOTSTRAP TOPIC GROUP_ID COMMAND_ID TIMEOUT_S; prints the result,
// then the next step
if (require.main === module) {
  const [bootstrap, topic, groupId, commandId, timeoutS] = process.argv.slice(2);
  waitForResult(bootstrap, topic, groupId, commandId, Number(timeoutS) * 1000).then(
    (result) => {
      console.log(JSON.stringify(result));
      console.log(nextStep(result));
    },
    (error) => {
      console.error("consume:", error.message);
      process.exit(1);
    },
  );
}
