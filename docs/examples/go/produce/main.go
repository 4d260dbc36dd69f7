// Command produce sends one call-control command (Go, franz-go). Paste and adapt: the
// essentials are the key (the callId, so a call's commands stay in order), acks=all with
// idempotence, and a commandId that names the action once (the same id again only replays the
// stored result).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

type command struct {
	CommandID string `json:"commandId"`
	CallID    string `json:"callId"`
	Type      string `json:"type"`
}

// commandID is a commandId scheme: <your service>:<your entity>:<action>:<attempt> - unique per
// action, stable across your own restarts, a new <attempt> when you decide to try again.
func commandID(service, entity, action string, attempt int) string {
	return fmt.Sprintf("%s:%s:%s:%d", service, entity, action, attempt)
}

func sendCommand(ctx context.Context, bootstrap, topic string, cmd command, traceparent string) error {
	client, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap),
		kgo.RequiredAcks(kgo.AllISRAcks()), // acks=all; franz-go's producer is idempotent by default
	)
	if err != nil {
		return err
	}
	defer client.Close()
	value, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	record := &kgo.Record{Topic: topic, Key: []byte(cmd.CallID), Value: value}
	if traceparent != "" { // optional: the service's spans join your trace
		record.Headers = append(record.Headers, kgo.RecordHeader{Key: "traceparent", Value: []byte(traceparent)})
	}
	return client.ProduceSync(ctx, record).FirstErr() // waits for the broker's acknowledgement
}

// usage: produce BOOTSTRAP TOPIC CALL_ID [TRACEPARENT]; prints the commandId it sent
func main() {
	args := os.Args[1:]
	traceparent := ""
	if len(args) > 3 {
		traceparent = args[3]
	}
	cmd := command{CommandID: commandID("ivr-svc", args[2], "hangup", 1), CallID: args[2], Type: "hangup"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sendCommand(ctx, args[0], args[1], cmd, traceparent); err != nil {
		fmt.Fprintln(os.Stderr, "produce:", err)
		os.Exit(1)
	}
	fmt.Println(cmd.CommandID)
}
