// callbacksload: an open-loop generator of signed Sinch callbacks, and a trivial server to
// measure it against (so the generator is shown not to be the bottleneck).
//
//	callbacksload -url http://127.0.0.1:8090/sinch/callbacks -rate 200 -seconds 30 -run R -key K
//	callbacksload -serve 127.0.0.1:0      (answers every POST 200 at once; prints its port)
//
// The application secret (base64, as Sinch shows it) comes from CALLBACKS_LOAD_SECRET, not a
// flag, so it is never on a command line. Callback i is due at start + i/rate whatever the
// others do (no coordinated omission); each is signed just before it is sent, so x-timestamp
// is always fresh. Callbacks cycle ICE, ACE, DiCE per call, like bench/callbacks.py describes.
// Output: one JSON document on stdout with, per request, the status (0: no answer within
// -timeout), the answer time from its due time and from its send, and how late it was sent.
// stdlib only: `go build` needs no network.
package main

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

type result struct {
	Status     int     `json:"status"`
	FromDueMs  float64 `json:"fromDueMs"`
	FromSendMs float64 `json:"fromSendMs"`
	LateMs     float64 `json:"lateMs"`
}

type report struct {
	Sent int `json:"sent"`
	// SendSeconds: first due time to the last send (the achieved rate's window); Seconds
	// runs on to the last answer.
	SendSeconds float64  `json:"sendSeconds"`
	Seconds     float64  `json:"seconds"`
	CPUSeconds  float64  `json:"cpuSeconds"`
	Results     []result `json:"results"`
}

func main() {
	target := flag.String("url", "", "callback URL to post to")
	rate := flag.Float64("rate", 200, "callbacks per second")
	seconds := flag.Float64("seconds", 30, "how long to send")
	run := flag.String("run", "load", "prefix of the call ids")
	key := flag.String("key", "", "application key")
	timeout := flag.Duration("timeout", 5*time.Second, "give up on an answer after this")
	serve := flag.String("serve", "", "run the trivial server on this address instead")
	flag.Parse()
	if *serve != "" {
		trivialServer(*serve)
		return
	}
	secret, err := base64.StdEncoding.DecodeString(os.Getenv("CALLBACKS_LOAD_SECRET"))
	if err != nil || len(secret) == 0 || *target == "" || *key == "" || *rate <= 0 {
		fmt.Fprintln(os.Stderr, "need -url, -key, a positive -rate and CALLBACKS_LOAD_SECRET (base64)")
		os.Exit(2)
	}
	parsed, err := url.Parse(*target)
	if err != nil {
		fmt.Fprintln(os.Stderr, "-url:", err)
		os.Exit(2)
	}
	out := drive(*target, parsed.Path, *key, secret, *run, *rate, *seconds, *timeout)
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}

func drive(target, path, key string, secret []byte, run string, rate, seconds float64, timeout time.Duration) report {
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 4096,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
			DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
		},
	}
	total := int(rate * seconds)
	results := make([]result, total)
	var wg sync.WaitGroup
	interval := float64(time.Second) / rate
	start := time.Now().Add(200 * time.Millisecond)
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(float64(i) * interval))
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func(i int, due time.Time) {
			defer wg.Done()
			results[i] = post(client, target, path, key, secret, callback(i, run, key), due)
		}(i, due)
	}
	sending := time.Since(start).Seconds()
	wg.Wait()
	return report{
		Sent:        total,
		SendSeconds: sending,
		Seconds:     time.Since(start).Seconds(),
		CPUSeconds:  cpuSeconds(),
		Results:     results,
	}
}

func post(client *http.Client, target, path, key string, secret []byte, body []byte, due time.Time) result {
	sent := time.Now()
	stamp := sent.UTC().Format("2006-01-02T15:04:05.000Z")
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(string(body)))
	if err != nil {
		return result{LateMs: ms(sent.Sub(due))}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-timestamp", stamp)
	req.Header.Set("Authorization", "Application "+key+":"+sign(secret, body, stamp, path))
	status := 0
	resp, err := client.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil {
			status = resp.StatusCode
		}
	}
	done := time.Now()
	return result{status, ms(done.Sub(due)), ms(done.Sub(sent)), ms(sent.Sub(due))}
}

// sign: Sinch's application-signed scheme, as simulator/auth.py and service/sinch/auth.py.
func sign(secret, body []byte, stamp, path string) string {
	sum := md5.Sum(body)
	toSign := strings.Join([]string{
		"POST", base64.StdEncoding.EncodeToString(sum[:]), "application/json",
		"x-timestamp:" + stamp, path,
	}, "\n")
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(toSign))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func callback(i int, run, key string) []byte {
	call := fmt.Sprintf("%s-%d", run, i/3)
	body := map[string]any{
		"event":          []string{"ice", "ace", "dice"}[i%3],
		"callid":         call,
		"timestamp":      time.Now().UTC().Format("2006-01-02T15:04:05Z"),
		"version":        1,
		"applicationKey": key,
	}
	switch i % 3 {
	case 0:
		body["callResourceUrl"] = "https://calling-euc1.api.sinch.com/calling/v1/calls/id/" + call
		body["cli"] = "+46700000001"
		body["to"] = map[string]string{"type": "number", "endpoint": "+46700000010"}
		body["domain"] = "pstn"
	case 2:
		body["result"] = "ANSWERED"
		body["reason"] = "CALLERHANGUP"
		body["duration"] = 12
	}
	encoded, _ := json.Marshal(body)
	return encoded
}

func trivialServer(address string) {
	listener, err := net.Listen("tcp", address)
	if err != nil {
		fmt.Fprintln(os.Stderr, "-serve:", err)
		os.Exit(2)
	}
	fmt.Println(listener.Addr().(*net.TCPAddr).Port)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})
	_ = http.Serve(listener, handler)
}

func cpuSeconds() float64 {
	var usage syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &usage) != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano()).Seconds()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
