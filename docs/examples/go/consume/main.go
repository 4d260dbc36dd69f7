// Command consume waits for the result of one command (Go, franz-go). Read the results topic
// with YOUR OWN consumer group (every team sees every result) and pick yours by commandId.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// result holds the fields this snippet needs; the full shape is schemas/call-control.results.v1.
type result struct {
	CommandID string `json:"commandId"`
	CallID    string `json:"callId"`
	Outcome   string `json:"outcome"`
	Duplicate bool   `json:"duplicate"`
	Error     *struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		Retryable bool   `json:"retryable"`
	} `json:"error"`
}

func waitForResult(ctx context.Context, bootstrap, topic, groupID, commandID string) (*result, json.RawMessage, error) {
	client, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap),
		kgo.ConsumerGroup(groupID), // yours, e.g. "ivr-svc.call-control-results"
		kgo.ConsumeTopics(topic),
		// a new group also sees results written before it joined
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return nil, nil, err
	}
	defer client.Close()
	for {
		fetches := client.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("no result for %s: %w", commandID, err)
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			return nil, nil, errs[0].Err
		}
		for iter := fetches.RecordIter(); !iter.Done(); {
			record := iter.Next()
			var r result
			if json.Unmarshal(record.Value, &r) == nil && r.CommandID == commandID {
				return &r, record.Value, nil
			}
		}
	}
}

// nextStep is the one retry rule: retryable means the same action may succeed if sent again
// with a NEW commandId; resending the same commandId only replays this stored result.
func nextStep(r *result) string {
	switch {
	case r.Outcome == "succeeded":
		return "done"
	case r.Error != nil && r.Error.Retryable:
		return "send again with a new commandId"
	default:
		return "give up: fix the cause (see error.code)"
	}
}

// usage: consume BOOTSTRAP TOPIC GROUP_ID COMMAND_ID TIMEOUT_S; prints the result, then the
// next step
func main() {
	args := os.Args[1:]
	seconds, err := strconv.Atoi(args[4])
	if err != nil {
		fmt.Fprintln(os.Stderr, "consume: TIMEOUT_S:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second)
	defer cancel()
	r, raw, err := waitForResult(ctx, args[0], args[1], args[2], args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, "consume:", err)
		os.Exit(1)
	}
	fmt.Println(string(raw))
	fmt.Println(nextStep(r))
}
